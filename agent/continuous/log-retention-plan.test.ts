import { describe, it, expect } from "vitest";
import type { BackupSet } from "../../lib/backups/grouping";
import { generationKey, segmentKey } from "../../lib/contracts/continuous";
import type { LogGeneration } from "./log-listing";
import { planLogRetention } from "./log-retention";

/**
 * The cautious paths of the log's retention plan, which the end-to-end test (log-retention.test.ts)
 * does not reach: whatever cannot be known keeps the whole generation.
 */

const at = (s: string) => new Date(s);

/** `ranges`: each segment's first and last revision and when it was read. */
function gen(generation: string, startedAt: string, baseSetId: string | null, baseRevision: number, ranges: [number, number, string][]): LogGeneration {
  return {
    generation,
    startedAt: at(startedAt),
    marker: baseSetId ? { version: 1, generation, startedAt, reason: "test", baseSetId, baseRevision, host: "h" } : null,
    markerKey: generationKey(generation),
    segments: ranges.map(([first, last, readAt]) => ({
      generation,
      first,
      last,
      readAt: at(readAt),
      key: segmentKey(generation, first, last, at(readAt)),
      size: 100,
    })),
    checkpoints: [],
    bytes: ranges.length * 100,
  };
}

function set(id: string, time: string): BackupSet {
  return { id, format: "lifeboat", stamp: id.slice("lifeboat-".length), time: at(time), objects: [], missing: [] };
}

const A = gen("20261201T000000Z", "2026-12-01T00:00:00Z", "lifeboat-2026-12-01_00-00-00", 100, [
  [101, 200, "2026-12-01T06:00:00Z"],
  [201, 300, "2026-12-01T18:00:00Z"],
]);
const B = gen("20261202T000000Z", "2026-12-02T00:00:00Z", "lifeboat-2026-12-02_00-00-00", 50, [[51, 80, "2026-12-02T01:00:00Z"]]);
const sets = [set("lifeboat-2026-12-01_00-00-00", "2026-11-30T23:59:00Z"), set("lifeboat-2026-12-01_12-00-00", "2026-12-01T12:00:00Z")];

describe("planLogRetention's cautious paths", () => {
  it("a generation whose marker cannot be read is left alone, even with no kept base", async () => {
    const blind = { ...A, marker: null };
    const [g] = await planLogRetention([blind, B], sets, new Set(sets.map((s) => s.id)), async () => 250);
    expect(g.action).toBe("keep");
    expect(g.keys).toEqual([]);
  });

  it("a kept base whose revision cannot be read (its manifest) keeps the whole generation", async () => {
    const [g] = await planLogRetention([A, B], sets, new Set([sets[0].id]), async () => null);
    expect(g.action).toBe("keep");
    expect(g.reasons[0]).toMatch(/could not be read/);
  });

  it("the current generation stays even when none of its bases is kept", async () => {
    const plan = await planLogRetention([A], sets, new Set(sets.map((s) => s.id)), async () => 250);
    expect(plan[0].action).toBe("keep");
  });

  it("checkpoints go with their generation, first, and with a trim once they end at or below the oldest kept base", async () => {
    const cp = (first: number, last: number, readAt: string) => ({
      generation: A.generation,
      first,
      last,
      readAt: at(readAt),
      key: segmentKey(A.generation, first, last, at(readAt), "checkpoint"),
      compacted: true,
      checkpoint: true,
      size: 40,
    });
    const withCps = { ...A, checkpoints: [cp(101, 200, "2026-12-01T06:00:00Z"), cp(101, 300, "2026-12-01T18:00:00Z")] };
    const [gone] = await planLogRetention([withCps, B], sets, new Set(sets.map((s) => s.id)), async () => 250);
    expect(gone.action).toBe("delete");
    expect(gone.keys).toEqual([...withCps.checkpoints.map((c) => c.key), ...A.segments.map((s) => s.key), A.markerKey]);
    expect(gone.bytesDeleted).toBe(280);
    const [trimmed] = await planLogRetention([withCps, B], sets, new Set([sets[0].id]), async () => 250);
    expect(trimmed.keys).toEqual([withCps.checkpoints[0].key, A.segments[0].key]);
  });

  it("trims to the oldest kept base: the segment holding its revision stays", async () => {
    const [g] = await planLogRetention([A, B], sets, new Set([sets[0].id]), async () => 250);
    expect(g.action).toBe("trim");
    expect(g.keys).toEqual([A.segments[0].key]);
    expect(g.oldestKeptBaseRevision).toBe(250);
  });

  describe("a set of another database taken inside a generation's time is none of its bases", () => {
    // C: base at revision 100, its log 101–300 read until 07:00; at 07:30 the database was restored to
    // revision 250 and k3s wrote on from there; 08:00 a Back up now (revision 260) before the shipper's
    // new base (revision 270, 08:59) and D's marker (09:00).
    const C = gen("20261205T000000Z", "2026-12-05T00:00:00Z", "lifeboat-2026-12-05_00-00-00", 100, [
      [101, 200, "2026-12-05T06:00:00Z"],
      [201, 300, "2026-12-05T07:00:00Z"],
    ]);
    const D = gen("20261205T090000Z", "2026-12-05T09:00:00Z", "lifeboat-2026-12-05_08-59-00", 270, [[271, 280, "2026-12-05T09:00:10Z"]]);
    const cSets = [
      set("lifeboat-2026-12-05_00-00-00", "2026-12-04T23:59:00Z"),
      set("lifeboat-2026-12-05_08-00-00", "2026-12-05T08:00:00Z"),
      set("lifeboat-2026-12-05_08-59-00", "2026-12-05T08:59:00Z"),
    ];
    const revision = async (s: BackupSet) => ({ "lifeboat-2026-12-05_08-00-00": 260, "lifeboat-2026-12-05_08-59-00": 270 })[s.id] ?? null;
    const firstBaseGone = new Set(["lifeboat-2026-12-05_00-00-00"]);

    it("an older generation whose own bases are gone goes whole: the other database's set keeps none of its segments", async () => {
      const [c] = await planLogRetention([C, D], cSets, firstBaseGone, revision);
      expect(c.action).toBe("delete");
      expect(c.keptBases).toEqual([]);
      expect(c.keys).toEqual([...C.segments.map((s) => s.key), C.markerKey]);
      expect(c.reasons.join(" ")).toMatch(/not a base: lifeboat-2026-12-05_08-00-00 holds revision 260, below revision 300/);
    });

    it("the newest generation (no marker for the other database yet) is kept whole, not trimmed to the other database's revision", async () => {
      const [c] = await planLogRetention([C], cSets.slice(0, 2), firstBaseGone, revision);
      expect(c.action).toBe("keep");
      expect(c.keys).toEqual([]);
      expect(c.keptBases).toEqual([]);
    });
  });
});
