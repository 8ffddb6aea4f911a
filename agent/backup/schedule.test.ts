import { afterEach, describe, expect, it } from "vitest";
import { nextScheduledRun, parseSchedule, startSchedule } from "./schedule";

const savedTz = process.env.TZ;
const RealDateTimeFormat = Intl.DateTimeFormat;

afterEach(() => {
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
  Intl.DateTimeFormat = RealDateTimeFormat;
});

describe("backup schedule", () => {
  // First: croner keeps the formatters it made, so a later test would not see one made.
  it("computes its times without Intl.DateTimeFormat (ICU's time-zone data would stay mapped in an idle agent)", () => {
    const made: unknown[] = [];
    Intl.DateTimeFormat = function (...args: unknown[]) {
      made.push(args);
      return new RealDateTimeFormat(...(args as ConstructorParameters<typeof Intl.DateTimeFormat>));
    } as unknown as typeof Intl.DateTimeFormat;
    const job = startSchedule("0 0 * * *", () => {});
    const next = job.nextRun();
    job.stop();
    expect(nextScheduledRun("*/5 * * * *")).toBeInstanceOf(Date);
    expect(next?.getUTCHours()).toBe(0);
    expect(made).toEqual([]);
  });

  it("runs in UTC whatever the host's time zone, across the host's daylight-saving changes", () => {
    // Node applies a TZ assigned at run time to every later Date computation.
    process.env.TZ = "America/New_York";
    const next = (expr: string, from: string) => parseSchedule(expr).nextRun(new Date(from))?.toISOString();
    // New York springs forward at 07:00 UTC on 2026-03-08; Berlin falls back at 01:00 UTC on 2026-10-25.
    expect(next("30 2 * * *", "2026-03-08T01:00:00Z")).toBe("2026-03-08T02:30:00.000Z");
    expect(next("0 0 * * *", "2026-03-08T06:00:00Z")).toBe("2026-03-09T00:00:00.000Z");
    process.env.TZ = "Europe/Berlin";
    expect(next("0 0 * * *", "2026-10-25T00:30:00Z")).toBe("2026-10-26T00:00:00.000Z");
    expect(next("15 1 * * *", "2026-10-25T00:30:00Z")).toBe("2026-10-25T01:15:00.000Z");
  });

  it("refuses an expression that never comes (February 30th) with a sentence, instead of never backing up", () => {
    for (const expr of ["0 0 30 2 *", "0 0 31 4 *"]) {
      expect(() => parseSchedule(expr), expr).toThrow(/LIFEBOAT_BACKUP_SCHEDULE: "0 0 3\d [24] \*" never comes/);
      expect(() => nextScheduledRun(expr), expr).toThrow(/never comes/);
      expect(() => startSchedule(expr, () => {}), expr).toThrow(/never comes/);
    }
    expect(nextScheduledRun("0 0 29 2 *")?.getUTCDate()).toBe(29); // a leap day comes
  });
});
