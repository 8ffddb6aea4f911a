import { describe, expect, it } from "vitest";
import { formatAge, formatTime } from "./format";

// Times come from other writers too (a manifest's createdAt, compactRevisionWrittenAt are free
// strings): one that is no date must not throw while a page renders, nor read as "NaN days ago".
describe("format", () => {
  it("formats UTC times and ages", () => {
    expect(formatTime("2026-12-03T11:58:07Z")).toBe("2026-12-03 11:58 UTC");
    expect(formatTime("2026-12-03T11:58:07Z", { seconds: true })).toBe("2026-12-03 11:58:07 UTC");
    expect(formatAge("2026-12-03T11:57:07Z", new Date("2026-12-03T11:58:07Z"))).toBe("1 min ago");
  });

  it("a time that is no date is shown as written, its age as unknown", () => {
    expect(() => formatTime("yesterday")).not.toThrow();
    expect(formatTime("yesterday")).toBe("yesterday");
    expect(formatTime(new Date(Number.NaN))).toBe("unknown time");
    expect(formatAge("yesterday")).toBe("unknown age");
  });
});
