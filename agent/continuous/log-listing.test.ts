import { describe, it, expect } from "vitest";
import { segmentKey, type SegmentName } from "../../lib/contracts/continuous";
import { effectiveSegments } from "./log-listing";

const GEN = "20261203T000000Z";
const seg = (first: number, last: number, compacted = false): SegmentName => {
  const readAt = new Date(Date.UTC(2026, 11, 3, 0, 0, last));
  return { generation: GEN, first, last, readAt, key: segmentKey(GEN, first, last, readAt, compacted), ...(compacted ? { compacted: true } : {}) };
};
const ranges = (xs: SegmentName[]) => xs.map((s) => `${s.first}-${s.last}${s.compacted ? "c" : ""}`);

describe("effectiveSegments: what a restore applies when compactions were cut short", () => {
  it("leaves out originals a compacted window covers, keeps the rest", () => {
    expect(ranges(effectiveSegments([seg(1, 10), seg(11, 20), seg(1, 20, true), seg(21, 30)]))).toEqual(["1-20c", "21-30"]);
  });

  it("leaves out a compacted window that a fold of windows covers, and the originals under both", () => {
    const got = effectiveSegments([seg(1, 20, true), seg(21, 40, true), seg(1, 40, true), seg(30, 40), seg(41, 50)]);
    expect(ranges(got)).toEqual(["1-40c", "41-50"]);
  });

  it("keeps every object when nothing covers another", () => {
    expect(ranges(effectiveSegments([seg(1, 20, true), seg(21, 40, true), seg(41, 50)]))).toEqual(["1-20c", "21-40c", "41-50"]);
  });
});
