import { describe, it, expect } from "vitest";
import { judgeLogDays, utcDay, type RecordedLogDay } from "./log-anomalies";

const GEN = "20261120T080000Z";
const MB = 1_000_000;

/** Days of GEN from 2026-11-21 on, one a day, with these sizes in MB (null: nothing recorded that day). */
function series(mb: (number | null)[], generation = GEN, from = Date.UTC(2026, 10, 21)): RecordedLogDay[] {
  const out: RecordedLogDay[] = [];
  mb.forEach((v, i) => {
    if (v !== null) out.push({ generation, day: utcDay(new Date(from + i * 86_400_000)), bytes: Math.round(v * MB), segments: 8640 });
  });
  return out;
}

/** Judged at noon of the day after the last of `n` days from 2026-11-21 (all of them ended). */
function after(n: number): Date {
  return new Date(Date.UTC(2026, 10, 21 + n, 12));
}

const opts = (now: Date, generation = GEN) => ({ generation, generationStartedAt: "2026-11-20T08:00:00.000Z", now });

describe("judgeLogDays: the backups' size rules over the log's daily bytes", () => {
  it("flags a day ≥ 2× the median of the previous days as critical growth, ≥ 1.25× as a warning, with the reason in words", () => {
    const steady = [5.9, 6.0, 5.8, 5.9, 6.1, 5.9, 5.9];
    const { anomalies, current, days } = judgeLogDays(series([...steady, 7.5, 18.2]), opts(after(9)));
    expect(days.every((d) => d.state === "ended")).toBe(true);
    expect(anomalies.map((a) => [a.day, a.type, a.level])).toEqual([
      ["2026-11-28", "growth", "warning"],
      ["2026-11-29", "growth", "critical"],
    ]);
    expect(anomalies[1].reason).toBe(
      "18.20 MB shipped on 2026-11-29 is 3.08× the median of the previous 7 days (5.90 MB): kine is writing far more than usual — a controller rewriting objects in a loop, or stuck compaction; the restore wizard's point-in-time timeline shows which objects change, and the log's storage cost grows with it.",
    );
    expect(anomalies[1].ratio).toBe(3.085);
    // Only the newest ended day's flag stands.
    expect(current.map((a) => a.day)).toEqual(["2026-11-29"]);
  });

  it("flags a day ≤ 0.5× the median as a critical shrink", () => {
    const { current } = judgeLogDays(series([6, 6, 6, 6, 2.4]), opts(after(5)));
    expect(current).toHaveLength(1);
    expect(current[0]).toMatchObject({ day: "2026-11-25", type: "shrink", level: "critical", ratio: 0.4 });
    expect(current[0].reason).toMatch(
      /^2\.40 MB shipped on 2026-11-25 is 0\.40× the median of the previous 4 days \(6\.00 MB\): kine wrote far less than usual/,
    );
  });

  it("judges nothing before minHistory (3) ended days", () => {
    expect(judgeLogDays(series([1, 1, 50]), opts(after(3))).anomalies).toEqual([]);
    expect(judgeLogDays(series([1, 1, 1, 50]), opts(after(4))).anomalies).toHaveLength(1);
  });

  it("the day in progress: shown, flagged for growth already past a threshold, never for a shrink, and not history", () => {
    // Four ended days of 6 MB, then today: 1 MB so far is no shrink (the day is not over).
    const low = judgeLogDays(series([6, 6, 6, 6, 1]), opts(new Date(Date.UTC(2026, 10, 25, 3))));
    expect(low.days.at(-1)).toMatchObject({ day: "2026-11-25", state: "in-progress" });
    expect(low.anomalies).toEqual([]);
    // 13 MB by 03:00 is already past 2× a whole day: that stands.
    const high = judgeLogDays(series([6, 6, 6, 6, 13]), opts(new Date(Date.UTC(2026, 10, 25, 3))));
    expect(high.current).toHaveLength(1);
    expect(high.current[0]).toMatchObject({ day: "2026-11-25", type: "growth", level: "critical" });
    expect(high.current[0].reason).toMatch(
      /^13\.00 MB shipped so far on 2026-11-25 \(the day is not over\) is already 2\.17× the median of the previous 4 days/,
    );
    // With only three ended days before it, a day in progress is judged; the day in progress itself never counts as history.
    expect(judgeLogDays(series([6, 6, 1, 13]), opts(new Date(Date.UTC(2026, 10, 24, 3)))).current).toHaveLength(1);
  });

  it("the generation's first day is partial: shown as generation-start, neither judged nor history", () => {
    // The generation began at 08:00 on 2026-11-20: 0.4 MB that day is no shrink, and it is not history —
    // with it, 2026-11-23 would have the three earlier days minHistory asks for and be flagged.
    const partial = { generation: GEN, day: "2026-11-20", bytes: 0.4 * MB, segments: 100 };
    const { days, anomalies } = judgeLogDays([partial, ...series([6, 6, 1])], opts(after(3)));
    expect(days.map((d) => d.state)).toEqual(["generation-start", "ended", "ended", "ended"]);
    expect(anomalies).toEqual([]);
    // Judged as a whole day (another generation began that day), the same series flags the shrink.
    const whole = judgeLogDays([partial, ...series([6, 6, 1])], { ...opts(after(3)), generationStartedAt: "2026-11-19T08:00:00.000Z" });
    expect(whole.anomalies.map((a) => [a.day, a.type])).toEqual([["2026-11-23", "shrink"]]);
  });

  it("a day with nothing recorded is a gap, not a shrink to 0", () => {
    const { days, anomalies } = judgeLogDays(series([6, 6, null, 6, 6, 6]), opts(after(6)));
    expect(days.map((d) => d.day)).not.toContain("2026-11-23");
    expect(anomalies).toEqual([]);
  });

  it("a generation change starts a new series: the old generation's days are neither shown nor history", () => {
    const NEW = "20261126T100000Z";
    const rec = [...series([6, 6, 6, 6, 6]), ...series([20, 20], NEW, Date.UTC(2026, 10, 27))];
    const { days, anomalies } = judgeLogDays(rec, { generation: NEW, generationStartedAt: "2026-11-26T10:00:00.000Z", now: after(8) });
    expect(days.map((d) => d.day)).toEqual(["2026-11-27", "2026-11-28"]);
    expect(anomalies).toEqual([]); // 20 MB against the old generation's 6 MB would be critical growth
    // The old generation, judged as the current one, still has its own series.
    expect(judgeLogDays(rec, opts(after(8))).days).toHaveLength(5);
  });

  it("thresholds are the backups' and can be set", () => {
    expect(judgeLogDays(series([6, 6, 6, 7.2]), opts(after(4))).anomalies).toEqual([]); // 1.2× < 1.25×
    expect(judgeLogDays(series([6, 6, 6, 7.2]), { ...opts(after(4)), thresholds: { growthWarning: 1.1 } }).anomalies).toHaveLength(1);
  });
});
