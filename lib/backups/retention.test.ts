import { describe, it, expect } from "vitest";
import { planRetention, isoWeekKey, type RetentionSet } from "./retention";

const lifeboat = (iso: string, complete = true): RetentionSet => ({
  id: `lifeboat-${iso}`,
  format: "lifeboat",
  time: new Date(iso),
  complete,
  keys: [`lifeboat_${iso}_manifest.json`, `lifeboat_${iso}_state.db.zst.gpg`],
});
const seed = (iso: string): RetentionSet => ({ id: `seed-${iso}`, format: "seed", time: new Date(iso), complete: true, keys: [`state_${iso}.db.gpg`] });
const none = { keepLast: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0 };
const kept = (d: ReturnType<typeof planRetention>) => d.filter((x) => x.action === "keep").map((x) => x.setId);
const deleted = (d: ReturnType<typeof planRetention>) => d.filter((x) => x.action === "delete").map((x) => x.setId);

/** Nightly sets at 00:00 UTC for `n` days ending on `last` (inclusive). */
function nightly(last: string, n: number): RetentionSet[] {
  const end = new Date(last).getTime();
  return Array.from({ length: n }, (_, i) => lifeboat(new Date(end - i * 86_400_000).toISOString()));
}

describe("isoWeekKey", () => {
  it("keeps a year below 100 as it is (not 19xx)", () => {
    expect(isoWeekKey(new Date("0024-12-18T00:00:07Z"))).toBe("24-W51");
    // 0024-12-29 is a Friday (1924-12-29 a Monday, in 1925's week 1).
    expect(isoWeekKey(new Date("0024-12-29T00:00:00Z"))).toBe("24-W52");
    expect(isoWeekKey(new Date("0024-12-30T00:00:00Z"))).toBe("25-W01");
  });

  it("follows ISO 8601 across year boundaries", () => {
    expect(isoWeekKey(new Date("2024-12-30T12:00:00Z"))).toBe("2025-W01"); // Monday of 2025's week 1
    expect(isoWeekKey(new Date("2021-01-03T00:00:00Z"))).toBe("2020-W53"); // Sunday still in 2020's week 53
    expect(isoWeekKey(new Date("2024-12-18T00:00:00Z"))).toBe("2024-W51");
  });
});

describe("planRetention", () => {
  it("keeps the last N and deletes the rest, newest first, with reasons", () => {
    const plan = planRetention(nightly("2024-12-18T00:00:00Z", 5), { ...none, keepLast: 3 });
    expect(plan.map((d) => d.timestamp)).toEqual([
      "2024-12-18T00:00:00.000Z",
      "2024-12-17T00:00:00.000Z",
      "2024-12-16T00:00:00.000Z",
      "2024-12-15T00:00:00.000Z",
      "2024-12-14T00:00:00.000Z",
    ]);
    expect(plan.map((d) => d.action)).toEqual(["keep", "keep", "keep", "delete", "delete"]);
    expect(plan[1].reasons).toEqual(["one of the last 3 sets (#2)"]);
    expect(plan[3].reasons[0]).toMatch(/not among the last 3 sets/);
    expect(plan[3].keys).toHaveLength(2);
  });

  it("keeps the newest set of each of the last D days that have backups", () => {
    const sets = [
      lifeboat("2024-12-18T12:00:00Z"),
      lifeboat("2024-12-18T00:00:00Z"),
      lifeboat("2024-12-16T06:00:00Z"), // the 17th has no backup: it does not use up a daily slot
      lifeboat("2024-12-16T01:00:00Z"),
      lifeboat("2024-12-15T00:00:00Z"),
    ];
    const plan = planRetention(sets, { ...none, keepDaily: 2 });
    expect(kept(plan)).toEqual(["lifeboat-2024-12-18T12:00:00Z", "lifeboat-2024-12-16T06:00:00Z"]);
    expect(plan[2].reasons).toEqual(["newest of 2024-12-16 (daily 2 of 2)"]);
  });

  it("GFS over 90 nights: 7 last + 7 daily + 4 weekly + 6 monthly", () => {
    const plan = planRetention(nightly("2024-12-18T00:00:00Z", 90), { keepLast: 7, keepDaily: 7, keepWeekly: 4, keepMonthly: 6 });
    const keep = kept(plan);
    // Last 7 nights cover the 7 dailies; weeks W51 (18th), W50 (15th), W49 (8th), W48 (1st);
    // months Dec (18th), Nov (30th), Oct (31st), Sep (30th, the oldest month of 90 nights back to 2024-09-20).
    expect(keep).toEqual([
      ...nightly("2024-12-18T00:00:00Z", 7).map((s) => s.id),
      "lifeboat-2024-12-08T00:00:00.000Z",
      "lifeboat-2024-12-01T00:00:00.000Z",
      "lifeboat-2024-11-30T00:00:00.000Z",
      "lifeboat-2024-10-31T00:00:00.000Z",
      "lifeboat-2024-09-30T00:00:00.000Z",
    ]);
    expect(deleted(plan)).toHaveLength(90 - keep.length);
    const dec1 = plan.find((d) => d.setId === "lifeboat-2024-12-01T00:00:00.000Z")!;
    expect(dec1.reasons).toEqual(["newest of 2024-W48 (weekly 4 of 4)"]);
  });

  it("never deletes the newest complete set, even with a policy of zeros", () => {
    const plan = planRetention(nightly("2024-12-18T00:00:00Z", 3), none);
    expect(kept(plan)).toEqual(["lifeboat-2024-12-18T00:00:00.000Z"]);
    expect(plan[0].reasons).toEqual(["newest complete set (always kept)"]);
    expect(deleted(plan)).toHaveLength(2);
  });

  it("the newest COMPLETE set is protected, not a newer incomplete one; incomplete and seed sets are ignored", () => {
    const sets = [
      lifeboat("2024-12-19T00:00:00Z", false),
      lifeboat("2024-12-18T00:00:00Z"),
      lifeboat("2024-12-17T00:00:00Z"),
      seed("2024-12-10T00:00:00Z"),
      seed("2023-01-01T00:00:00Z"),
    ];
    const plan = planRetention(sets, none);
    expect(plan.map((d) => [d.setId, d.action])).toEqual([
      ["lifeboat-2024-12-19T00:00:00Z", "ignore"],
      ["lifeboat-2024-12-18T00:00:00Z", "keep"],
      ["lifeboat-2024-12-17T00:00:00Z", "delete"],
      ["seed-2024-12-10T00:00:00Z", "ignore"],
      ["seed-2023-01-01T00:00:00Z", "ignore"],
    ]);
    expect(plan[0].reasons[0]).toMatch(/incomplete/);
    expect(plan[3].reasons[0]).toMatch(/seed/);
  });

  it("a set in a folder below the store is never deleted, and never stands in for the newest complete set", () => {
    const nested = {
      ...lifeboat("2024-12-19T00:00:00Z"),
      keys: ["cluster-b/lifeboat_2024-12-19_00-00-00_manifest.json", "cluster-b/lifeboat_2024-12-19_00-00-00_state.db.zst.gpg"],
    };
    const plan = planRetention([nested, lifeboat("2024-12-18T00:00:00Z"), lifeboat("2024-12-10T00:00:00Z", true)], none);
    expect(plan.map((d) => [d.setId, d.action])).toEqual([
      ["lifeboat-2024-12-19T00:00:00Z", "ignore"],
      ["lifeboat-2024-12-18T00:00:00Z", "keep"],
      ["lifeboat-2024-12-10T00:00:00Z", "delete"],
    ]);
    expect(plan[0].reasons[0]).toMatch(/folder cluster-b\/ below the store/);
  });

  it("an empty store plans nothing", () => {
    expect(planRetention([], { keepLast: 7, keepDaily: 7, keepWeekly: 4, keepMonthly: 6 })).toEqual([]);
  });
});
