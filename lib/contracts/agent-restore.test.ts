import { describe, it, expect } from "vitest";
import { PointTime, StartRestoreRequest } from "./agent-restore";
import { WizardCandidate } from "../restore/contracts";

/**
 * A point restore's time, one rule for POST /restores, the CLI's --to-time (agent/commands/restore.test.ts)
 * and the dashboard wizard: zod's datetime with an offset. It already refuses dates the calendar does
 * not have; this holds it to that (a zod upgrade that rolled them over would move a restore to another day).
 */

const impossible = [
  "2026-02-30T10:00:00Z",
  "2026-02-29T10:00:00Z",
  "2026-04-31T00:00:00Z",
  "2026-13-01T00:00:00Z",
  "2026-12-03T24:00:00Z",
  "2026-12-31T23:59:60Z",
];
const malformed = ["5", "12/03/2026 14:00", "2026-12-03T14:32:10", "2026-12-03", "2026-12-03T14:32:10+0200"];

describe("PointTime", () => {
  it.each([...impossible, ...malformed])("refuses %j, in POST /restores and in the wizard too", (toTime) => {
    expect(PointTime.safeParse(toTime).success).toBe(false);
    expect(StartRestoreRequest.safeParse({ source: { kind: "backup", setId: "latest" }, toTime }).success).toBe(false);
    expect(WizardCandidate.safeParse({ kind: "backup", setId: "latest", toTime }).success).toBe(false);
  });

  it.each(["2026-12-03T14:32:10Z", "2026-12-03T15:32:10+01:00", "2028-02-29T00:00:00.123Z", "2026-12-31T23:59:59-05:00"])("takes %j", (toTime) => {
    expect(PointTime.safeParse(toTime).success).toBe(true);
    expect(StartRestoreRequest.safeParse({ source: { kind: "backup", setId: "latest" }, toTime }).success).toBe(true);
  });
});
