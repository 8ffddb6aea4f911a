import { describe, it, expect, beforeAll, afterAll } from "vitest";
import Database from "better-sqlite3";
import { execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { KINE_SCHEMA_SQL } from "../kine/schema";
import { salvageKineDatabase } from "./salvage";

/**
 * The salvage writes its result page by page (kine-file-writer.ts) instead of through SQLite. The
 * file must be one SQLite itself accepts whole — `sqlite3`'s integrity_check walks every b-tree,
 * checks each index holds exactly the table's rows in SQLite's order and every page is used once —
 * and must hold what SQLite's own INSERTs and CREATE INDEX give: the same rows, column types, schema,
 * AUTOINCREMENT counter and index entries. Names sort as SQLite's BINARY collation sorts bytes
 * (multi-byte UTF-8, characters beyond the BMP, shared prefixes); prev_revision holds NULLs and 0s
 * (the partial index leaves them out); values overflow onto chains of pages; enough rows for three
 * levels of index b-tree; page sizes from 4 KiB to 64 KiB (where a page's content offset reads 0).
 */

let work: string;

const NAMES = [
  "/registry/pods/default/web-",
  "/registry/pods/kube-system/coredns-",
  "/registry/é/",
  "/registry/😀/",
  "/registry/ｚ/",
  "/registry/a",
  "compact_rev_key",
];

function makeKineDb(file: string, pageSize: number, rows: number): void {
  const db = new Database(file);
  db.pragma(`page_size = ${pageSize}`);
  db.exec(KINE_SCHEMA_SQL);
  const insert = db.prepare(
    "INSERT INTO kine (id, name, created, deleted, create_revision, prev_revision, lease, value, old_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  db.transaction(() => {
    let id = 5;
    insert.run(id, "compact_rev_key", 0, 0, 0, 3, 0, "", null);
    const last = new Map<string, number>();
    for (let i = 0; i < rows; i++) {
      id += 1 + (i % 3 === 0 ? 2 : 0); // gaps, as compaction leaves them
      // Revisions of every integer width in the keys (id, prev_revision): 6- and 8-byte ones too.
      if (i === Math.floor(rows / 2)) id = 2 ** 33;
      if (i === Math.floor((rows * 3) / 4)) id = 2 ** 48;
      const name = `${NAMES[i % (NAMES.length - 1)]}${(i * 7919) % 613}`;
      const prevRev = last.get(name);
      // Creates (prev 0), updates, a few NULLs as an odd writer might leave.
      const prev = i % 97 === 0 ? null : (prevRev ?? 0);
      last.set(name, id);
      const big = i % 211 === 0;
      const value = big ? Buffer.alloc(70_000 + i, i & 0xff) : i % 5 === 0 ? `text ${i} ✓` : Buffer.alloc(40 + (i % 300), i & 0xff);
      insert.run(id, name, i % 2, i % 11 === 0 ? 1 : 0, id, prev, i % 4 === 0 ? null : 2 ** 40 + i, value, i % 3 === 0 ? null : Buffer.from(`old ${i}`));
    }
  })();
  db.close();
}

/** Everything SQLite says about a kine file: rows with types, schema, counter, each index's entries in its order. */
function describeFile(file: string): Record<string, string[]> {
  const db = new Database(file, { readonly: true });
  db.defaultSafeIntegers(true);
  const cols = ["id", "name", "created", "deleted", "create_revision", "prev_revision", "lease", "value", "old_value"];
  const q = (sql: string) =>
    (db.prepare(sql).raw().all() as unknown[][]).map((r) => r.map((v) => (Buffer.isBuffer(v) ? v.toString("hex") : String(v))).join("|"));
  const out: Record<string, string[]> = {
    rows: q(`SELECT ${cols.map((c) => `typeof(${c}), quote(${c})`).join(", ")} FROM kine ORDER BY id`),
    schema: q("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY rowid"),
    sequence: q("SELECT * FROM sqlite_sequence"),
    pageSize: q("PRAGMA page_size"),
  };
  for (const [index, c] of Object.entries({
    kine_name_index: "name",
    kine_name_id_index: "name, id",
    kine_id_deleted_index: "id, deleted",
    kine_prev_revision_index: "prev_revision",
    kine_name_prev_revision_uindex: "name, prev_revision",
    kine_id_compact_rev_key_with_prev_revision_index: "id, name, prev_revision",
  })) {
    const where = index.startsWith("kine_id_compact") ? "WHERE name != 'compact_rev_key' AND prev_revision != 0" : "";
    out[index] = q(`SELECT ${c}, rowid FROM kine INDEXED BY ${index} ${where} ORDER BY ${c}, rowid`);
  }
  db.close();
  return out;
}

function integrity(file: string): string {
  return execFileSync("sqlite3", [file, "PRAGMA integrity_check"]).toString().trim();
}

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-file-writer-"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the salvage's page-by-page writer", () => {
  for (const [pageSize, rows] of [
    [4096, 12_000],
    [8192, 3000],
    [65536, 3000],
  ] as const) {
    it(`writes what SQLite's inserts would, at ${pageSize}-byte pages, page 1 intact and zeroed`, async () => {
      const original = path.join(work, `orig-${pageSize}.db`);
      makeKineDb(original, pageSize, rows);
      const expected = describeFile(original);
      const zeroed = path.join(work, `zeroed-${pageSize}.db`);
      execFileSync("cp", [original, zeroed]);
      const fd = openSync(zeroed, "r+");
      writeSync(fd, Buffer.alloc(pageSize), 0, pageSize, 0);
      closeSync(fd);

      for (const source of [original, zeroed]) {
        const direct = path.join(work, `direct-${pageSize}.db`);
        const viaSqlite = path.join(work, `sqlite-${pageSize}.db`);
        const r = await salvageKineDatabase(source, direct);
        expect(r.written).toEqual({ by: "pages" });
        // The salvage keeps kine's rows (it drops the ones a NULL prev_revision makes conflict with a create).
        expect(r.rowsKept).toBeGreaterThan(rows * 0.95);
        expect(integrity(direct)).toBe("ok");
        const got = describeFile(direct);
        expect(got.rows).toHaveLength(r.rowsKept);
        // Row 8's value is 70 KB of zeros: a zeroed last overflow page reads as damage, so the salvage
        // keeps what it trusts and reports it (the kine check decides); the writer leaves such rows to
        // SQLite's INSERT after its pages. Every other row is the original's, byte for byte.
        expect([...r.doubts.keys()]).toEqual([8]);
        expect(got.rows.filter((row) => !expected.rows.includes(row)).map((row) => row.split("|")[1])).toEqual(["8"]);
        expect(got.rows.filter((row) => row.split("|")[10] === "null").length).toBeGreaterThan(10);
        expect(got.pageSize).toEqual(expected.pageSize);
        // Against SQLite building the same rows (the salvage's other way): schema and every index.
        const s = await salvageKineDatabase(source, viaSqlite, { direct: false });
        expect(s.written?.by).toBe("sqlite");
        expect(got).toEqual(describeFile(viaSqlite));
        // kine's own queries run on it.
        const db = new Database(direct, { readonly: true });
        const n = db.prepare("SELECT COUNT(*) AS n FROM kine WHERE name >= '/registry/😀/' AND name < '/registry/😀0' AND prev_revision >= 0").get() as {
          n: number;
        };
        expect(n.n).toBeGreaterThan(0);
        db.close();
      }
    }, 120_000);
  }

  it("closes every page of every b-tree right, whatever the row count (full pages, a last key alone)", async () => {
    // 900-byte names: four index keys to a page, so 1..120 rows give every way a leaf level and two
    // interior levels can end; rows of a page each with 500..540 of them fill a table interior page.
    const check = async (rows: number, nameBytes: number, valueBytes: number) => {
      const file = path.join(work, "shape.db");
      const out = path.join(work, "shape-out.db");
      rmSync(file, { force: true });
      const db = new Database(file);
      db.exec(KINE_SCHEMA_SQL);
      const insert = db.prepare(
        "INSERT INTO kine (id, name, created, deleted, create_revision, prev_revision, lease, value, old_value) VALUES (?, ?, 1, 0, ?, ?, 0, ?, NULL)",
      );
      db.transaction(() => {
        for (let i = 1; i <= rows; i++)
          insert.run(i, `/registry/${String(i).padStart(6, "0")}/`.padEnd(nameBytes, "x"), i, i % 3 === 0 ? i - 1 : 0, Buffer.alloc(valueBytes, 7));
      })();
      db.close();
      const r = await salvageKineDatabase(file, out);
      expect(r.written, `${rows} rows`).toEqual({ by: "pages" });
      const got = new Database(out, { readonly: true });
      const verdict = got.pragma("integrity_check", { simple: true });
      const count = got.prepare("SELECT COUNT(*) FROM kine").pluck().get();
      got.close();
      expect([rows, verdict, count]).toEqual([rows, "ok", rows]);
    };
    for (let rows = 1; rows <= 120; rows++) await check(rows, 900, 10);
    for (let rows = 500; rows <= 540; rows++) await check(rows, 40, 3000);
  }, 120_000);

  it("builds through SQLite what it cannot write exactly (pages under 4 KiB), and says why", async () => {
    const original = path.join(work, "small-pages.db");
    makeKineDb(original, 1024, 800);
    const out = path.join(work, "small-out.db");
    const r = await salvageKineDatabase(original, out);
    expect(r.written?.by).toBe("sqlite");
    expect(r.written?.why).toMatch(/4 KiB/);
    expect(integrity(out)).toBe("ok");
    const all = describeFile(original).rows;
    const got = describeFile(out).rows;
    expect(got.length).toBeGreaterThan(700);
    expect(got.filter((row) => !all.includes(row)).map((row) => row.split("|")[1])).toEqual(["8"]);
  }, 60_000);
});
