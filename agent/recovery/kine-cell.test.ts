import { describe, it, expect, beforeAll, afterAll } from "vitest";
import Database from "better-sqlite3";
import { copyFileSync, mkdtempSync, rmSync, openSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { KINE_SCHEMA_SQL } from "../kine/schema";
import { salvageKineDatabase } from "./salvage";

/**
 * The salvage reads most rows where they lie (kine-cell.ts) instead of through the general record
 * decoder: every column type kine's table can hold must come out as SQLite itself reads it from the
 * original — NULLs, the constants 0 and 1, integers of every width (negative, beyond 2^53), text and
 * blobs in value and old_value, empty ones, rows that overflow — whether page 1 is intact or zeroed.
 */

let work: string;
let original: string;

/** Every row as SQLite reads it, with each column's type: what a salvage must give back. */
function rowsOf(file: string): string[] {
  const db = new Database(file, { readonly: true });
  db.defaultSafeIntegers(true);
  const cols = ["id", "name", "created", "deleted", "create_revision", "prev_revision", "lease", "value", "old_value"];
  const rows = db
    .prepare(`SELECT ${cols.map((c) => `typeof(${c}) || ':' || quote(${c})`).join(" || '|' || ")} AS r FROM kine ORDER BY id`)
    .pluck()
    .all() as string[];
  db.close();
  return rows;
}

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-kine-cell-"));
  original = path.join(work, "odd.db");
  const db = new Database(original);
  db.pragma("page_size = 4096");
  db.exec(KINE_SCHEMA_SQL);
  const insert = db.prepare(
    "INSERT INTO kine (id, name, created, deleted, create_revision, prev_revision, lease, value, old_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const ints = [0, 1, -1, 127, -128, 300, -40_000, 8_000_000, -2_000_000_000, 2 ** 40, -(2 ** 47), 2n ** 60n + 7n, -(2n ** 62n) - 3n];
  let id = 1;
  db.transaction(() => {
    insert.run(id++, "compact_rev_key", 0, 0, 0, 0, 0, "", null);
    for (let i = 0; i < 400; i++) {
      const n = ints[i % ints.length];
      const value = i % 5 === 0 ? null : i % 5 === 1 ? Buffer.alloc(0) : i % 5 === 2 ? `text value ${i} é ✓` : Buffer.alloc(i % 7 === 0 ? 9000 : 50 + i, i);
      const old = i % 3 === 0 ? null : i % 3 === 1 ? Buffer.from(`old ${i}`) : `old text ${i}`;
      insert.run(id++, `/registry/odd/${i % 37}/${i}`, n, i % 2, n, i, i % 4 === 0 ? null : n, value, old);
    }
  })();
  db.close();
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the salvage's fast row reader", () => {
  it("gives back every column type exactly, with page 1 intact", async () => {
    const out = path.join(work, "intact-out.db");
    const r = await salvageKineDatabase(original, out);
    expect(r.rowsKept).toBe(401);
    expect(rowsOf(out)).toEqual(rowsOf(original));
  });

  it("gives back every column type exactly, with page 1 zeroed", async () => {
    const damaged = path.join(work, "p1.db");
    const out = path.join(work, "p1-out.db");
    copyFileSync(original, damaged);
    const fd = openSync(damaged, "r+");
    writeSync(fd, Buffer.alloc(4096), 0, 4096, 0);
    closeSync(fd);
    const r = await salvageKineDatabase(damaged, out);
    expect(r.headerIntact).toBe(false);
    expect(rowsOf(out)).toEqual(rowsOf(original));
  });

  it("gives back every row exactly when the reader's cache holds only a few blocks (rows scattered over the file)", async () => {
    // ~24 MB of rows inserted in a shuffled id order, so id order jumps between pages far apart and
    // the reader's blocks are evicted while a batch of rows still points into them.
    const big = path.join(work, "scattered.db");
    const db = new Database(big);
    db.pragma("page_size = 4096");
    db.exec(KINE_SCHEMA_SQL);
    const insert = db.prepare(
      "INSERT INTO kine (id, name, created, deleted, create_revision, prev_revision, lease, value, old_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    const ids = Array.from({ length: 16_000 }, (_, i) => i + 1);
    let seed = 7;
    const rand = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let i = ids.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [ids[i], ids[j]] = [ids[j], ids[i]];
    }
    db.transaction(() => {
      for (const id of ids) {
        const value = Buffer.alloc(1000 + (id % 500));
        for (let k = 0; k + 4 <= value.length; k += 4) value.writeUInt32BE((id * 2_654_435_761 + k) >>> 0, k);
        insert.run(id, `/registry/scattered/${id}`, 0, 0, id, id - 1, 0, value, id % 2 ? null : Buffer.from(`old ${id}`));
      }
    })();
    db.close();
    for (const cacheBytes of [8, 12].map((mb) => mb * 1024 * 1024)) {
      const out = path.join(work, `scattered-out-${cacheBytes}.db`);
      const r = await salvageKineDatabase(big, out, { readerCacheBytes: cacheBytes });
      expect(r.rowsKept).toBe(16_000);
      expect(rowsOf(out)).toEqual(rowsOf(big));
    }
  }, 120_000);
});
