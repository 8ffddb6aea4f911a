import { describe, it, expect, afterEach } from "vitest";
import { mkdtempSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openKineDb } from "../kine/schema";
import { KineSimulator } from "../kine/simulator";
import Database from "better-sqlite3";
import { KINE_INSERT_SQL } from "../kine/schema";
import { LogReader, rowFingerprint } from "./reader";
import { formatSegment } from "./segment-format";

/**
 * The log's reader says which file each read came from (device and inode), so the shipper can compare
 * it with the file its generation is of (position.json): a database file replaced under it (a restore,
 * a new server) is seen on the next read, and by a fresh process too.
 */

let work: string;
afterEach(() => rmSync(work, { recursive: true, force: true }));

function kineDb(file: string, seed: number): number {
  const db = openKineDb(file);
  const sim = new KineSimulator(db, { seed });
  sim.seed();
  const rev = sim.currentRevision();
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.close();
  return rev;
}

describe("the log's reader", () => {
  it("names the file each read came from, and reads the new one once another is moved into place", async () => {
    work = mkdtempSync(path.join(tmpdir(), "lifeboat-reader-"));
    const live = path.join(work, "state.db");
    const rev = kineDb(live, 1);
    const reader = new LogReader(live);
    try {
      const first = await reader.read(rev);
      expect(first.file).toEqual({ dev: statSync(live).dev, ino: statSync(live).ino });
      expect(first.revision).toBe(rev);
      // Another database moved into place (as a restore swaps it in).
      const other = path.join(work, "other.db");
      const otherRev = kineDb(other, 2);
      const otherIno = statSync(other).ino;
      renameSync(other, live);
      const stand = await reader.standing(rev);
      expect(stand.file?.ino).toBe(otherIno);
      const next = await reader.read(0);
      expect(next.file?.ino).toBe(otherIno);
      expect(next.revision).toBe(otherRev);
      expect(first.file?.ino).not.toBe(otherIno);
    } finally {
      reader.close();
    }
  });

  it("reads a value stored as TEXT (another writer than kine) as its bytes: the segment carries them, its fingerprint is the one the next read sees", async () => {
    work = mkdtempSync(path.join(tmpdir(), "lifeboat-reader-"));
    const live = path.join(work, "state.db");
    const rev = kineDb(live, 3);
    const copy = path.join(work, "copy.db");
    const db = new Database(live);
    db.exec(`VACUUM INTO '${copy}'`);
    const text = "apiVersion: v1\nkind: ConfigMap\ndata: {a: 'é😀'}";
    // A JS string binds as TEXT; the old_value, of another writer, as TEXT too.
    const id = Number(db.prepare(KINE_INSERT_SQL).run("/registry/configmaps/ns/text", 1, 0, 0, 0, 0, text, 0).lastInsertRowid);
    db.prepare("UPDATE kine SET old_value = ? WHERE id = ?").run("old 'text'", id);
    expect(db.prepare("SELECT typeof(value) || typeof(old_value) FROM kine WHERE id = ?").pluck().get(id)).toBe("texttext");
    db.close();
    const reader = new LogReader(live);
    try {
      const read = await reader.read(rev);
      const row = read.rows.find((r) => r.id === id)!;
      expect(row.value).toEqual(Buffer.from(text, "utf8"));
      expect(row.old_value).toEqual(Buffer.from("old 'text'", "utf8"));
      const sql = formatSegment({ generation: "20261203T000000Z", first: rev + 1, last: id, compactRevision: 0, readAt: new Date().toISOString() }, read.rows);
      const restored = new Database(copy);
      restored.exec(sql);
      const bytes = "SELECT hex(value) || ':' || hex(old_value) FROM kine WHERE id = ?";
      const hex = (t: string) => Buffer.from(t, "utf8").toString("hex").toUpperCase();
      expect(restored.prepare(bytes).pluck().get(id)).toBe(`${hex(text)}:${hex("old 'text'")}`);
      restored.close();
      // The next read, after this row, finds the same row there (no false "another database").
      expect((await reader.read(id)).rowAtAfter).toBe(rowFingerprint(row));
    } finally {
      reader.close();
    }
  });
});
