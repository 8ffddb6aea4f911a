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

function gen(generation: string, startedAt: string, baseSetId: string | null, baseRevision: number, ranges: [number, number][]): LogGeneration {
  return {
    generation,
    startedAt: at(startedAt),
    marker: baseSetId ? { version: 1, generation, startedAt, reason: "test", baseSetId, baseRevision, host: "h" } : null,
    markerKey: generationKey(generation),
    segments: ranges.map(([first, last]) => ({
      generation,
      first,
      last,
      readAt: at(startedAt),
      key: segmentKey(generation, first, last, at(startedAt)),
      size: 100,
    })),
    bytes: ranges.length * 100,
  };
}

function set(id: string, time: string): BackupSet {
  return { id, format: "lifeboat", stamp: id.slice("lifeboat-".length), time: at(time), objects: [], missing: [] };
}

const A = gen("20261201T000000Z", "2026-12-01T00:00:00Z", "lifeboat-2026-12-01_00-00-00", 100, [
  [101, 200],
  [201, 300],
]);
const B = gen("20261202T000000Z", "2026-12-02T00:00:00Z", "lifeboat-2026-12-02_00-00-00", 50, [[51, 80]]);
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

  it("trims to the oldest kept base: the segment holding its revision stays", async () => {
    const [g] = await planLogRetention([A, B], sets, new Set([sets[0].id]), async () => 250);
    expect(g.action).toBe("trim");
    expect(g.keys).toEqual([A.segments[0].key]);
    expect(g.oldestKeptBaseRevision).toBe(250);
  });
});
