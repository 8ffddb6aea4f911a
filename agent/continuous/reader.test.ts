import { describe, it, expect, afterEach } from "vitest";
import { mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openKineDb } from "../kine/schema";
import { KineSimulator } from "../kine/simulator";
import { LogReader } from "./reader";

/**
 * The log's reader reports a database file replaced under it (a restore, a new server) on the next
 * read, which begins a new generation (shipper.ts); a look at where the database stands (standing,
 * used before taking an offered base) must not swallow that report.
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
  it("reports a replaced database file on the next read, even after a look at where it stands", async () => {
    work = mkdtempSync(path.join(tmpdir(), "lifeboat-reader-"));
    const live = path.join(work, "state.db");
    const rev = kineDb(live, 1);
    const reader = new LogReader(live);
    try {
      const first = await reader.read(rev);
      expect(first.fileReplaced).toBe(false);
      expect(first.revision).toBe(rev);
      // Another database moved into place (as a restore swaps it in).
      const other = path.join(work, "other.db");
      kineDb(other, 2);
      renameSync(other, live);
      const stand = await reader.standing(rev);
      expect(stand.revision).toBeGreaterThan(0);
      expect((await reader.read(rev)).fileReplaced).toBe(true);
      expect((await reader.read(rev)).fileReplaced).toBe(false);
    } finally {
      reader.close();
    }
  });
});
