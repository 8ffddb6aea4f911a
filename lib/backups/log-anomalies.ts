import type { LogDay, LogDayAnomaly } from "../contracts/continuous";
import { DEFAULT_THRESHOLDS, judgeSize, round3, type AnomalyThresholds } from "./anomalies";
import { describeBytes, describeRatio } from "./describe";

/**
 * Anomaly flags over the log's daily bytes (issue 16 item 5): the backups' size rules (`judgeSize`,
 * same thresholds) over the bytes shipped per UTC day in one generation. Pure; the agent answers them
 * in `GET /continuous`, the dashboard's alert rule evaluates them again with its own thresholds.
 */

/** One recorded day of one generation, as the agent keeps it (`dailyBytes` in agent/continuous/position.ts). */
export interface RecordedLogDay {
  generation: string;
  /** `YYYY-MM-DD`, UTC: the day the segment's rows were read from the database. */
  day: string;
  bytes: number;
  segments: number;
}

/** `YYYY-MM-DD` of a time, UTC. */
export function utcDay(t: Date): string {
  return t.toISOString().slice(0, 10);
}

/** What a flag on the log's bytes may mean, and what to do. */
function meaning(type: LogDayAnomaly["type"], level: LogDayAnomaly["level"]): string {
  if (type === "shrink")
    return "kine wrote far less than usual — k3s may have been stopped or failing for part of the day; check that the cluster is up and writing, and the agent's log.";
  if (level === "critical")
    return "kine is writing far more than usual — a controller rewriting objects in a loop, or stuck compaction; the restore wizard's point-in-time timeline shows which objects change, and the log's storage cost grows with it.";
  return "more writes than usual; if it goes on, the restore wizard's point-in-time timeline shows which objects change.";
}

/**
 * The current generation's days, oldest first, each with its state, and the flags (pure; never
 * throws). A day's state:
 * - only days of `generation` count: a new generation starts a new series;
 * - the generation's first day (it began during it) is partial: `generation-start`;
 * - `now`'s UTC day is `in-progress`; days before it `ended`.
 * A day with nothing recorded (the agent was down) is absent, not 0. Flags: flagLogDays.
 */
export function judgeLogDays(
  recorded: readonly RecordedLogDay[],
  opts: { generation: string | null; generationStartedAt: string | null; now: Date; thresholds?: Partial<AnomalyThresholds> },
): { days: LogDay[]; anomalies: LogDayAnomaly[]; current: LogDayAnomaly[] } {
  const today = utcDay(opts.now);
  const startDay = opts.generationStartedAt ? utcDay(new Date(opts.generationStartedAt)) : null;
  const days: LogDay[] = recorded
    .filter((d) => d.generation === opts.generation)
    .sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0))
    .map((d) => ({
      day: d.day,
      bytes: d.bytes,
      segments: d.segments,
      state: d.day === startDay ? "generation-start" : d.day >= today ? "in-progress" : "ended",
    }));
  return { days, ...flagLogDays(days, opts.thresholds) };
}

/**
 * The flags over days whose states are set (pure; never throws), oldest first. Rules:
 * - an `ended` day is judged against the ended days before it (growth or shrink, `judgeSize`);
 * - the day `in-progress` is judged for growth only, against the ended days: its bytes only rise, so
 *   growth already past a threshold stands, while a shrink cannot be told yet; it is never history;
 * - the `generation-start` day is partial: neither judged nor history.
 * `current` holds the flags that stand now: the newest ended day's and the day in progress's.
 * The agent's status and the dashboard's alert rules (with LIFEBOAT_GROWTH_* thresholds) both use it.
 */
export function flagLogDays(days: readonly LogDay[], thresholds?: Partial<AnomalyThresholds>): { anomalies: LogDayAnomaly[]; current: LogDayAnomaly[] } {
  const t: AnomalyThresholds = { ...DEFAULT_THRESHOLDS, ...thresholds };
  const anomalies: LogDayAnomaly[] = [];
  const history: number[] = [];
  let newestEnded: string | null = null;
  for (const d of days) {
    if (d.state === "generation-start") continue;
    const v = judgeSize(d.bytes, history, t);
    if (v && (d.state === "ended" || v.type === "growth")) {
      const ended = d.state === "ended";
      anomalies.push({
        day: d.day,
        type: v.type,
        level: v.level,
        ratio: round3(v.ratio),
        reason: `${describeBytes(d.bytes)} ${ended ? `shipped on ${d.day} is` : `shipped so far on ${d.day} (the day is not over) is already`} ${describeRatio(v.ratio)} the median of the previous ${v.window} ${v.window === 1 ? "day" : "days"} (${describeBytes(v.median)}): ${meaning(v.type, v.level)}`,
      });
    }
    if (d.state === "ended") {
      history.push(d.bytes);
      newestEnded = d.day;
    }
  }
  const inProgress = days.filter((d) => d.state === "in-progress").map((d) => d.day);
  const current = anomalies.filter((a) => a.day === newestEnded || inProgress.includes(a.day));
  return { anomalies, current };
}
