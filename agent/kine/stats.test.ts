import { describe, it, expect } from "vitest";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import type { KineStats, KeyPrefixStat } from "../../lib/contracts/manifest";
import { generateKineDb } from "./generator";
import { keyPrefix, readKineStats } from "./stats";

const tmp = () => mkdtempSync(path.join(tmpdir(), "lifeboat-stats-"));

interface Row {
  id: number;
  name: string | null;
  deleted: unknown;
  prev: unknown;
  bytes: number;
}

/** SQL's `x != 0` / `x = 0` on a column value (NULL compares to nothing; text is never equal to a number). */
const sqlNotZero = (v: unknown) => v !== null && v !== 0;
const sqlIsZero = (v: unknown) => v === 0;

/**
 * KineStats by their definitions, over every row read into JavaScript: no index, no SQL trick. The
 * optimised readKineStats must give exactly this.
 */
function referenceStats(db: Database.Database, file: string, top = 10): KineStats {
  const rows = db
    .prepare(
      "SELECT id, name, deleted, prev_revision AS prev, IFNULL(length(value), 0) + IFNULL(length(old_value), 0) AS bytes FROM kine NOT INDEXED ORDER BY id",
    )
    .all() as Row[];
  const pageSize = db.pragma("page_size", { simple: true }) as number;
  const pageCount = db.pragma("page_count", { simple: true }) as number;
  const freelistCount = db.pragma("freelist_count", { simple: true }) as number;
  const currentRevision = rows.reduce((m, r) => Math.max(m, r.id), 0);
  const compactRevision = rows.filter((r) => r.name === "compact_rev_key").reduce((m, r) => Math.max(m, Number(r.prev ?? 0)), 0);
  // kine's compaction query: ids that are some (non-compact_rev_key) row's prev_revision, and tombstones.
  const superseded = new Set(rows.filter((r) => r.name !== null && r.name !== "compact_rev_key" && r.prev !== null && r.prev !== 0).map((r) => r.prev));
  const uncompactedRows = rows.filter((r) => sqlNotZero(r.deleted) || superseded.has(r.id)).length;
  // Newest row per key (ids ascend), keys other than compact_rev_key and gap-* (LIKE ignores ASCII case).
  const newest = new Map<string, Row>();
  for (const r of rows) if (r.name !== null && r.name !== "compact_rev_key" && !r.name.toLowerCase().startsWith("gap-")) newest.set(r.name, r);
  const liveKeys = [...newest.values()].filter((r) => sqlIsZero(r.deleted)).length;
  const byPrefix = new Map<string, KeyPrefixStat>();
  for (const r of rows) {
    const p = keyPrefix(r.name);
    const e = byPrefix.get(p) ?? { prefix: p, rows: 0, bytes: 0 };
    e.rows++;
    e.bytes += r.bytes;
    byPrefix.set(p, e);
  }
  const prefixes = [...byPrefix.values()];
  return {
    fileSize: statSync(file).size,
    pageSize,
    pageCount,
    freelistCount,
    rowCount: rows.length,
    currentRevision,
    compactRevision,
    compactionLag: Math.max(0, currentRevision - compactRevision),
    uncompactedRows,
    liveKeys,
    topPrefixesByRows: [...prefixes].sort((a, b) => b.rows - a.rows || a.prefix.localeCompare(b.prefix)).slice(0, top),
    topPrefixesByBytes: [...prefixes].sort((a, b) => b.bytes - a.bytes || a.prefix.localeCompare(b.prefix)).slice(0, top),
  };
}

describe("readKineStats gives the numbers of their plain definitions", () => {
  it("on a database that was compacted, then stuck, with odd rows added", () => {
    const file = path.join(tmp(), "state.db");
    generateKineDb(file, { targetBytes: 1_500_000, compaction: "stuck-after-healthy", seed: 31 });
    const db = new Database(file);
    const ins = db.prepare(
      "INSERT INTO kine (name, created, deleted, create_revision, prev_revision, lease, value, old_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    );
    const maxId = db.prepare("SELECT MAX(id) FROM kine").pluck().get() as number;
    db.transaction(() => {
      ins.run("gap-900001", 0, 0, 0, 0, 0, null, null);
      ins.run("GAP-upper", 0, 0, 0, 0, 0, Buffer.from("x"), null); // LIKE 'gap-%' matches it; keyPrefix does not
      ins.run("/single", 1, 0, 0, 0, 0, Buffer.alloc(10), null);
      ins.run("/registry/onlytwo", 1, 0, 0, 0, 0, Buffer.alloc(20), Buffer.alloc(3));
      ins.run("noslash", 1, 0, 0, 0, 0, "héllo", null); // text: length() counts characters
      ins.run(null, 1, 0, 0, 0, 0, Buffer.alloc(7), null);
      const nullDeleted = Number(ins.run("/registry/odd/x/null-deleted", 1, null, 0, 0, 0, Buffer.alloc(5), null).lastInsertRowid);
      ins.run("/registry/odd/x/null-deleted", 0, 0, nullDeleted, nullDeleted, 0, Buffer.alloc(6), Buffer.alloc(5)); // supersedes a row whose deleted is NULL
      ins.run("/registry/odd/x/two", 0, 2, 0, maxId + 10_000, 0, null, null); // deleted = 2; prev points at no row
      ins.run("/registry/odd/x/prev-null", 1, 0, 0, null, 0, Buffer.alloc(1), null);
    })();
    const got = readKineStats(db, file);
    const want = referenceStats(db, file);
    expect(got).toEqual(want);
    // The odd rows are really in it (the comparison covers them).
    expect(got.topPrefixesByRows.length).toBe(10);
    expect(readKineStats(db, file, { top: 100 }).topPrefixesByRows.map((p) => p.prefix)).toEqual(
      expect.arrayContaining(["gap-*", "GAP-upper", "/single", "/registry/onlytwo", "noslash", "(null)", "/registry/odd"]),
    );
    db.close();
  });

  it("on a healthy compacted database and on a stuck one, readonly, leaving the connection's mmap setting as it was", () => {
    for (const compaction of ["healthy", "stuck"] as const) {
      const file = path.join(tmp(), "state.db");
      generateKineDb(file, { targetBytes: 1_200_000, compaction, seed: 32 });
      const db = new Database(file, { readonly: true });
      expect(readKineStats(db, file)).toEqual(referenceStats(db, file));
      expect(db.pragma("mmap_size", { simple: true })).toBe(0);
      db.close();
    }
  });

  it("on an empty kine table", () => {
    const file = path.join(tmp(), "state.db");
    const db = new Database(file);
    db.exec(
      "CREATE TABLE kine (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, created INTEGER, deleted INTEGER, create_revision INTEGER, prev_revision INTEGER, lease INTEGER, value BLOB, old_value BLOB)",
    );
    expect(readKineStats(db, file)).toEqual(referenceStats(db, file));
    expect(readKineStats(db, file).rowCount).toBe(0);
    db.close();
  });
});
