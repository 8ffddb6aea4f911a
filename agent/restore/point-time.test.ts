import { describe, it, expect } from "vitest";
import { parseSegmentKey, segmentKey } from "../../lib/contracts/continuous";
import { pointTime } from "./stage-and-verify";

/**
 * How a point restore names its point (the diff's subject, the record's read time): a read time only
 * where the point is the end of the segment read then. "Restore to just before this change" (the
 * wizard) is a revision inside a segment: it was written after the read before it, so naming it by that
 * read (up to the agent's whole downtime earlier) said it lost every change since, which it keeps.
 */

const GEN = "20261203T120000Z";
const seg = (first: number, last: number, at: string) => parseSegmentKey(segmentKey(GEN, first, last, new Date(at)))!;
const segments = [seg(101, 150, "2026-12-03T12:00:10Z"), seg(151, 200, "2026-12-03T14:00:00Z")];
const plan = { segments, targetReadAt: null, baseRevision: 100 };

describe("the time a point restore is named by", () => {
  it("a segment's end: its read time", () => {
    expect(pointTime(plan, { revision: 150, readAt: "2026-12-03T12:00:09.400Z" })).toEqual({
      readAt: "2026-12-03T12:00:09.400Z",
      subject: "Restoring to 12:00:09 UTC (revision 150)",
    });
  });

  it("a revision inside a segment: between the read before it and that segment's read, with no read time of its own", () => {
    expect(pointTime(plan, { revision: 180, readAt: "2026-12-03T12:00:09.400Z" })).toEqual({
      readAt: null,
      subject: "Restoring to a point between 12:00:09 and 14:00:00 UTC (revision 180)",
    });
    expect(pointTime(plan, { revision: 120, readAt: null })).toEqual({
      readAt: null,
      subject: "Restoring to a point between the base and 12:00:10 UTC (revision 120)",
    });
  });

  it("the base itself, even inside a segment: its revision alone", () => {
    expect(pointTime({ ...plan, baseRevision: 120 }, { revision: 120, readAt: null })).toEqual({ readAt: null, subject: "Restoring to revision 120" });
  });
});
