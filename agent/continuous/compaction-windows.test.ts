import { describe, it, expect } from "vitest";
import { segmentKey, type SegmentName } from "../../lib/contracts/continuous";
import { foldCut, windowGroups } from "./compaction";

const GEN = "20261203T000000Z";
const HOUR = 3_600_000;
const seg = (first: number, last: number, atHours: number, compacted = false): SegmentName => {
  const readAt = new Date(Date.UTC(2026, 11, 3) + atHours * HOUR);
  return { generation: GEN, first, last, readAt, key: segmentKey(GEN, first, last, readAt, compacted), ...(compacted ? { compacted: true } : {}) };
};
const ranges = (g: { segs: SegmentName[]; closed: boolean }[]) =>
  g.map((x) => `${x.closed ? "closed" : "open"}:${x.segs.map((s) => `${s.first}-${s.last}${s.compacted ? "c" : ""}`).join(",")}`);

describe("foldCut: a fold ends at the last object read right after kine compacted", () => {
  it("picks the last object whose compact revision rose", () => {
    expect(foldCut([100, 100, 400, 400, 700, 700, 700])).toBe(4);
  });
  it("takes everything when kine did not compact in the window (-1)", () => {
    expect(foldCut([100, 100, 100])).toBe(-1);
    expect(foldCut([100])).toBe(-1);
  });
});

describe("windowGroups: what a closed window read after its fold's cut waits in the next window", () => {
  const now = new Date(Date.UTC(2026, 11, 3) + 13 * HOUR);
  it("groups by the window of the read time, closed once it ended", () => {
    const g = windowGroups([seg(1, 10, 1), seg(11, 20, 5), seg(21, 30, 7), seg(31, 40, 12.5)], 6, now);
    expect(ranges(g)).toEqual(["closed:1-10,11-20", "closed:21-30", "open:31-40"]);
  });
  it("moves what follows a closed window's newest compacted object into the next window", () => {
    const g = windowGroups([seg(1, 20, 5, true), seg(21, 25, 5.9), seg(26, 30, 5.95), seg(31, 40, 8), seg(41, 50, 12.5)], 6, now);
    expect(ranges(g)).toEqual(["closed:1-20c", "closed:21-25,26-30,31-40", "open:41-50"]);
  });
  it("leaves an open window's objects where they are", () => {
    const g = windowGroups([seg(1, 20, 12.2, true), seg(21, 25, 12.4)], 6, now);
    expect(ranges(g)).toEqual(["open:1-20c,21-25"]);
  });
});
