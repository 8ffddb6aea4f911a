import { describe, it, expect, beforeEach, afterEach } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { hasErrorCode } from "../../lib/contracts/errors";
import { generationKey, segmentKey } from "../../lib/contracts/continuous";
import { loadAgentConfig } from "../config";
import { makeDeps } from "../deps";
import { planPoint } from "./point-in-time";
import { putFakeMarker, putFakeSet } from "../testing/continuous-fixtures";

/**
 * Which set a point restore starts from when a set of another database lies inside a generation's time:
 * a database restored to an earlier point (k3s then writes a new history from there), backed up before
 * the shipper's new generation began — a Back up now right after the restore (the shipper's own base
 * waits for it), a crash between the shipper's base and its marker, or the next marker damaged. Such a
 * set is never a base of the generation it interrupts (log-listing.ts basesOf). Sets and segments are
 * objects in a directory store, their names and manifests as the agent writes them (the segments'
 * bodies are never read by the plan).
 */

let dir: string;
const GEN1 = "20261203T120001Z";
const GEN2 = "20261203T120610Z";
const S1 = "lifeboat-2026-12-03_12-00-00";

function deps() {
  writeFileSync(path.join(dir, "pass"), "x\n");
  return makeDeps(
    loadAgentConfig({
      LIFEBOAT_BACKUP_DIR: path.join(dir, "store"),
      LIFEBOAT_PASSPHRASE_FILE: path.join(dir, "pass"),
      LIFEBOAT_STATE_DIR: path.join(dir, "state"),
      LIFEBOAT_K3S_SERVER_DIR: path.join(dir, "k3s"),
      LOG_LEVEL: "silent",
      LIFEBOAT_BACKUP_SCHEDULE: "off",
    }),
  );
}
const put = (k: string, body: string | Buffer = "x") => writeFileSync(path.join(dir, "store", k), body);

const set = (stamp: string, revision: number) => putFakeSet(put, stamp, revision);
const marker = (gen: string, baseSetId: string, baseRevision: number) => putFakeMarker(put, gen, baseSetId, baseRevision);
/** gen1: base S1 at revision 100 (12:00:00), its log 101–500 in 8 segments read 12:00:10–12:03:40. */
function gen1() {
  set("2026-12-03_12-00-00", 100);
  marker(GEN1, S1, 100);
  for (let k = 0, first = 101; k < 8; k++, first += 50) put(segmentKey(GEN1, first, first + 49, new Date(Date.UTC(2026, 11, 3, 12, 0, 10 + k * 30))));
}
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (err: unknown) => err,
  );

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "point-in-time-test-"));
  mkdirSync(path.join(dir, "store"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("a set of the database that replaced a generation's is not its base", () => {
  it("a Back up now right after a restore, before the next generation began: the point is restored from the generation's own base", async () => {
    gen1();
    // 12:04:30 the database is restored to revision 250 of this log; k3s writes 251–260 of its new history.
    // 12:04:40 Back up now (revision 260). The shipper's base waits for it, then is taken at 12:06:00; gen2 begins 12:06:10.
    set("2026-12-03_12-04-40", 260);
    set("2026-12-03_12-06-00", 270);
    marker(GEN2, "lifeboat-2026-12-03_12-06-00", 270);
    const plan = await planPoint(deps(), "latest", { toTime: "2026-12-03T12:03:00Z" });
    expect({ generation: plan.generation, target: plan.target, baseSetId: plan.baseSetId }).toEqual({ generation: GEN1, target: 400, baseSetId: S1 });
    expect(plan.segments[0].first).toBe(101);
    // Named, it is refused with why, rather than having gen1's log applied to it.
    const err = await refusal(planPoint(deps(), "lifeboat-2026-12-03_12-04-40", { toRevision: 400 }));
    expect(hasErrorCode(err, "no_log_point")).toBe(true);
    expect((err as Error).message).toMatch(/holds revision 260, below revision 500 .* another database/);
  });

  it("the next generation's marker damaged: its base (the other database) is not a base of the generation before", async () => {
    gen1();
    set("2026-12-03_12-06-00", 260);
    put(generationKey(GEN2), "{ not json");
    const plan = await planPoint(deps(), "latest", { toTime: "2026-12-03T12:03:00Z" });
    expect({ generation: plan.generation, baseSetId: plan.baseSetId }).toEqual({ generation: GEN1, baseSetId: S1 });
  });

  it("the newest generation, with no next one yet (a crash between the shipper's base and its marker): told by the revision going back", async () => {
    gen1();
    set("2026-12-03_12-04-40", 260);
    const plan = await planPoint(deps(), "latest", { toTime: "2026-12-03T12:03:00Z" });
    expect({ generation: plan.generation, target: plan.target, baseSetId: plan.baseSetId }).toEqual({ generation: GEN1, target: 400, baseSetId: S1 });
  });

  it("a set of another database at the very revision the generation ended at (its row there another one): taken after the log's last read, not a base", async () => {
    gen1();
    // The new history reached 500 too by 12:05:00; gen2 began at 12:06:10 from its own base.
    set("2026-12-03_12-05-00", 500);
    set("2026-12-03_12-06-00", 505);
    marker(GEN2, "lifeboat-2026-12-03_12-06-00", 505);
    const plan = await planPoint(deps(), "latest", { toTime: "2026-12-03T12:05:30Z" });
    expect({ generation: plan.generation, target: plan.target, baseSetId: plan.baseSetId }).toEqual({ generation: GEN1, target: 500, baseSetId: S1 });
    expect(plan.segments).toHaveLength(8);
  });

  it("a later set of the same database is still a base: the newest one at or below the point", async () => {
    gen1();
    // A nightly set at 12:02:00, between the reads of 12:01:40 (up to 300) and 12:02:10 (up to 350).
    set("2026-12-03_12-02-00", 320);
    const plan = await planPoint(deps(), "latest", { toTime: "2026-12-03T12:03:00Z" });
    expect({ target: plan.target, baseSetId: plan.baseSetId, baseRevision: plan.baseRevision }).toEqual({
      target: 400,
      baseSetId: "lifeboat-2026-12-03_12-02-00",
      baseRevision: 320,
    });
    expect(plan.segments.map((s) => s.first)).toEqual([301, 351]);
  });

  it("a segment read in the seconds before a set: the rows before it tell, its own only once read READ_SLACK_MS before", async () => {
    const gen = () => {
      set("2026-12-03_12-00-00", 100);
      marker(GEN1, S1, 100);
      const seg = (first: number, last: number, at: string) => put(segmentKey(GEN1, first, last, new Date(at)));
      seg(101, 200, "2026-12-03T12:01:57Z");
      seg(201, 330, "2026-12-03T12:01:59Z");
      seg(331, 400, "2026-12-03T12:02:30Z");
    };
    gen();
    // 12:02:00, revision 320: the read named 12:01:59 may have begun after this snapshot (its name keeps
    // whole seconds), so its rows above 320 say nothing: a base of this database.
    set("2026-12-03_12-02-00", 320);
    const plan = await planPoint(deps(), "latest", { toRevision: 400 });
    expect({ baseSetId: plan.baseSetId, baseRevision: plan.baseRevision }).toEqual({ baseSetId: "lifeboat-2026-12-03_12-02-00", baseRevision: 320 });
    expect(plan.segments.map((s) => s.first)).toEqual([201, 331]);
    // Instead, at 12:02:00, revision 150: rows up to 200 were read before the read named 12:01:59 began: another database.
    rmSync(path.join(dir, "store"), { recursive: true });
    mkdirSync(path.join(dir, "store"));
    gen();
    set("2026-12-03_12-02-00", 150);
    const again = await planPoint(deps(), "latest", { toRevision: 300 });
    expect({ baseSetId: again.baseSetId, baseRevision: again.baseRevision }).toEqual({ baseSetId: S1, baseRevision: 100 });
    const err = await refusal(planPoint(deps(), "lifeboat-2026-12-03_12-02-00", { toRevision: 300 }));
    expect((err as Error).message).toMatch(/holds revision 150, below revision 200 .*the reads before segment/);
  });
});
