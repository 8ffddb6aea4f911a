import { describe, it, expect, beforeEach, afterEach } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { segmentKey } from "../../lib/contracts/continuous";
import { loadAgentConfig } from "../config";
import { makeDeps } from "../deps";
import { planPoint } from "./point-in-time";
import { putFakeMarker, putFakeSet } from "../testing/continuous-fixtures";
import { encodeSegment } from "./segment-codec";
import { formatSegment } from "./segment-format";
import { clearTimelineCache, readTimeline } from "./timeline";

let dir: string;
const GEN = "20261203T120001Z";
const PASS = "timeline bases passphrase";

function deps() {
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

/** A segment of revisions first..last read at `at`, its rows ConfigMaps created at `ids` (default: `last`). */
async function segment(first: number, last: number, at: Date, compacted = false, ids = [last]) {
  const rows = ids.map((id) => ({
    id,
    name: `/registry/configmaps/default/cm-${id}`,
    created: 1,
    deleted: 0,
    create_revision: 0,
    prev_revision: 0,
    lease: 0,
    value: Buffer.from("v"),
    old_value: null,
    oldValueRebuildable: true,
  }));
  const text = formatSegment(
    { generation: GEN, first, last, compactRevision: 0, readAt: at.toISOString() },
    rows,
    compacted ? { note: "test", tail: [] } : undefined,
  );
  put(segmentKey(GEN, first, last, at, compacted), await encodeSegment(text, PASS));
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "timeline-bases-test-"));
  mkdirSync(path.join(dir, "store"));
  writeFileSync(path.join(dir, "pass"), PASS + "\n");
  clearTimelineCache();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("the timeline of a generation whose first base retention removed", () => {
  it("starts from the oldest base left, as a point restore does: no gap where the removed segments were", async () => {
    // gen: first base at 12:00:00 (revision 100), a nightly set at 12:02:00 (revision 300); retention removed
    // the first base and the segments up to 300 (log-retention.ts). The marker stays.
    putFakeMarker(put, GEN, "lifeboat-2026-12-03_12-00-00", 100, "2026-12-03T12:00:01Z");
    set("2026-12-03_12-02-00", 300);
    for (let k = 0, first = 301; k < 4; k++, first += 50) await segment(first, first + 49, new Date(Date.UTC(2026, 11, 3, 12, 2, 10 + k * 30)));
    // A point restore finds its base.
    const plan = await planPoint(deps(), "latest", { toRevision: 400 });
    expect({ baseSetId: plan.baseSetId, baseRevision: plan.baseRevision }).toEqual({ baseSetId: "lifeboat-2026-12-03_12-02-00", baseRevision: 300 });
    // The timeline offers the same points.
    const t = await readTimeline(deps(), { setId: "latest", segments: 120 });
    expect(t.available).toBe(true);
    expect(t.gaps).toEqual([]);
    expect(t.points.map((p) => [p.last, p.reachable])).toEqual([
      [350, true],
      [400, true],
      [450, true],
      [500, true],
    ]);
    expect(t.newestReachable?.revision).toBe(500);
    expect({ baseSetId: t.baseSetId, baseRevision: t.baseRevision }).toEqual({ baseSetId: "lifeboat-2026-12-03_12-02-00", baseRevision: 300 });
  });
});

describe("the timeline offers only points a restore can reach", () => {
  it("a compacted window is one point (its originals, left by a compaction cut short, are not points), and no change inside it is offered", async () => {
    putFakeMarker(put, GEN, "lifeboat-2026-12-03_12-00-00", 100, "2026-12-03T12:00:01Z");
    set("2026-12-03_12-00-00", 100);
    const at = (min: number) => new Date(Date.UTC(2026, 11, 3, 12, min, 10));
    await segment(101, 200, at(1), false, [150, 200]);
    // 201–300 folded; the compaction was cut short before it deleted the first original.
    await segment(201, 300, at(3), true, [210, 260, 300]);
    await segment(201, 250, at(2), false, [210, 230, 250]);
    await segment(301, 400, at(4), false, [320, 400]);
    const t = await readTimeline(deps(), { setId: "latest", segments: 120 });
    expect(t.points.map((p) => [p.first, p.last, p.compacted ?? false])).toEqual([
      [101, 200, false],
      [201, 300, true],
      [301, 400, false],
    ]);
    // What the wizard offers (components/restore/point-timeline.tsx): each point's end, and just before each change.
    const offered = t.points.flatMap((p) => [p.last, ...p.changes.filter((c) => !p.compacted || c.revision === p.first).map((c) => c.revision - 1)]);
    expect(offered.length).toBeGreaterThan(5);
    for (const rev of offered) await expect(planPoint(deps(), "latest", { toRevision: rev })).resolves.toMatchObject({ target: rev });
  });
});

describe("the timeline of a named set that is not a base of the generation", () => {
  it("a set of the database restored to an earlier point (backed up before the next generation began) has no points, as planPoint refuses them", async () => {
    const GEN2 = "20261203T120610Z";
    putFakeMarker(put, GEN, "lifeboat-2026-12-03_12-00-00", 100, "2026-12-03T12:00:01Z");
    set("2026-12-03_12-00-00", 100);
    for (let k = 0, first = 101; k < 8; k++, first += 50) await segment(first, first + 49, new Date(Date.UTC(2026, 11, 3, 12, 0, 10 + k * 30)));
    // 12:04:30 the database is restored to revision 250; 12:04:40 Back up now (revision 260); gen2 begins 12:06:10.
    set("2026-12-03_12-04-40", 260);
    set("2026-12-03_12-06-00", 270);
    putFakeMarker(put, GEN2, "lifeboat-2026-12-03_12-06-00", 270, "2026-12-03T12:06:10Z");
    const named = "lifeboat-2026-12-03_12-04-40";
    await expect(planPoint(deps(), named, { toRevision: 400 })).rejects.toMatchObject({ code: "no_log_point" });
    const t = await readTimeline(deps(), { setId: named, segments: 120 });
    expect(t.available).toBe(false);
    expect(t.points).toEqual([]);
    expect(t.why).toMatch(/holds revision 260, below revision 500 .* another database/);
  });
});
