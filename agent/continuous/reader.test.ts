import { describe, it, expect, afterEach } from "vitest";
import { mkdtempSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openKineDb } from "../kine/schema";
import { KineSimulator } from "../kine/simulator";
import { LogReader } from "./reader";

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
});
