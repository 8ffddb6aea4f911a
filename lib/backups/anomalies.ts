import type { ObjectKind, SetFormat } from "../contracts/backup-names";
import type { Anomaly } from "../contracts/catalog";
import { countsAsBackup, receivedBefore, type BackupSet } from "./grouping";
import { describeBytes, describeDuration, describeRatio } from "./describe";

/**
 * When a size or an interval is abnormal, as ratios to the median of what came before. Ratios (not
 * byte deltas) so a series scaled to kilobytes raises the same flags as the same series in megabytes.
 */
export interface AnomalyThresholds {
  /** size ≥ this × median of the previous backups of its kind → growth warning (1.25). */
  growthWarning: number;
  /** size ≥ this × median → growth critical (2). */
  growthCritical: number;
  /** size ≤ this × median → shrink critical (0.5): a truncated or empty backup looks like this. */
  shrinkCritical: number;
  /** interval since the previous set > this × the usual interval → gap warning (1.5). */
  gapWarning: number;
  /** newest set older than this × the usual interval when read → stale critical (1.5). */
  staleCritical: number;
  /** How many previous backups (or intervals) the median is taken over (7). */
  window: number;
  /**
   * Fewest previous backups (or intervals) before a size or interval is judged at all (3): with one
   * or two earlier backups there is no "usual" yet, and a flag would be a guess.
   */
  minHistory: number;
}

export const DEFAULT_THRESHOLDS: AnomalyThresholds = {
  growthWarning: 1.25,
  growthCritical: 2,
  shrinkCritical: 0.5,
  gapWarning: 1.5,
  staleCritical: 1.5,
  window: 7,
  minHistory: 3,
};

/**
 * Checks thresholds make sense together; returns a list of problems (empty when fine), each naming
 * the field, so callers can name their own setting (an env variable, a form field).
 */
export function thresholdProblems(t: AnomalyThresholds): string[] {
  const p: string[] = [];
  const positive: (keyof AnomalyThresholds)[] = ["growthWarning", "growthCritical", "shrinkCritical", "gapWarning", "staleCritical"];
  for (const k of positive) if (!(t[k] > 0) || !Number.isFinite(t[k])) p.push(`${k} must be a positive number (got ${t[k]})`);
  if (t.growthWarning <= 1) p.push(`growthWarning must be above 1 (got ${t.growthWarning})`);
  if (t.growthCritical < t.growthWarning) p.push(`growthCritical (${t.growthCritical}) must be at least growthWarning (${t.growthWarning})`);
  if (t.shrinkCritical >= 1) p.push(`shrinkCritical must be below 1 (got ${t.shrinkCritical})`);
  if (t.gapWarning <= 1) p.push(`gapWarning must be above 1 (got ${t.gapWarning})`);
  if (t.staleCritical <= 1) p.push(`staleCritical must be above 1 (got ${t.staleCritical})`);
  if (!Number.isInteger(t.window) || t.window < 1) p.push(`window must be a whole number ≥ 1 (got ${t.window})`);
  if (!Number.isInteger(t.minHistory) || t.minHistory < 1 || t.minHistory > t.window)
    p.push(`minHistory must be a whole number from 1 to window (got ${t.minHistory})`);
  return p;
}

/** Kinds whose size series is judged. The manifest's size follows its statistics, not the data. */
const SIZED_KINDS: ReadonlySet<ObjectKind> = new Set<ObjectKind>([
  "file-archive",
  "logical",
  "lifeboat-logical",
  "lifeboat-files",
  "lifeboat-token",
  "lifeboat-secrets",
]);

/** Plural nouns for reasons: "the median of the previous 7 file archives". */
export const KIND_NOUNS: Record<ObjectKind, [singular: string, plural: string]> = {
  "file-archive": ["file archive", "file archives"],
  logical: ["logical backup", "logical backups"],
  "lifeboat-logical": ["logical backup", "logical backups"],
  "lifeboat-files": ["server-files archive", "server-files archives"],
  "lifeboat-token": ["token archive", "token archives"],
  "lifeboat-secrets": ["secrets archive", "secrets archives"],
  manifest: ["manifest", "manifests"],
};

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** A ratio rounded to 3 decimals, as flags carry it. */
export const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** A size judged against the sizes before it: growth (warning or critical) or shrink (critical). */
export interface SizeVerdict {
  type: "growth" | "shrink";
  level: Anomaly["level"];
  /** size ÷ median (not rounded). */
  ratio: number;
  median: number;
  /** How many earlier sizes the median was taken over. */
  window: number;
}

/**
 * The size rules over one series (pure; never throws): `size` against the median of the last
 * `window` of `previous` (oldest first) — ≥ growthCritical/growthWarning × it is growth, ≤
 * shrinkCritical × it is shrink. Null with fewer than `minHistory` earlier sizes, a size of 0 (callers
 * say "empty" their own way), a median of 0, or nothing abnormal. Shared by backups and the log's daily bytes.
 */
export function judgeSize(size: number, previous: readonly number[], t: AnomalyThresholds = DEFAULT_THRESHOLDS): SizeVerdict | null {
  if (previous.length < t.minHistory || !(size > 0)) return null;
  const window = previous.slice(-t.window);
  const med = median(window);
  if (!(med > 0)) return null;
  const ratio = size / med;
  const at = { ratio, median: med, window: window.length };
  if (ratio >= t.growthCritical) return { type: "growth", level: "critical", ...at };
  if (ratio >= t.growthWarning) return { type: "growth", level: "warning", ...at };
  if (ratio <= t.shrinkCritical) return { type: "shrink", level: "critical", ...at };
  return null;
}

/**
 * Flags abnormal backups (pure; the rules):
 * - growth: an object ≥ growthWarning/growthCritical × the median of the previous `window` objects
 *   of its kind → warning/critical; shrink: ≤ shrinkCritical × that median → critical; an empty
 *   (0 B) object is always critical, even without history.
 * - gap: a set arrives more than gapWarning × the usual interval (median of the previous `window`
 *   intervals of its format) after the previous one → warning.
 * - stale: at `now`, the newest set is older than staleCritical × the usual interval of its format
 *   → critical.
 * Series are per object kind (sizes) and per set format (intervals), so seed and Lifeboat sets
 * never mix. Intervals and staleness are between sets that count as backups (countsAsBackup): the
 * objects of a Lifeboat upload that died part way (no manifest) are no backup, so they neither
 * hide a missed night nor make the store look fresh. Their objects still join the size series (each
 * object is whole; an object of any layout is judged in its kind's series). Returns the anomalies
 * of each flagged set, by set id. `partial`: the sets are a listing still under way (a cold start's
 * pages so far), which says nothing about time — neither gaps nor staleness are judged, only sizes.
 */
export function detectAnomalies(
  sets: readonly BackupSet[],
  opts: { thresholds?: Partial<AnomalyThresholds>; now?: Date; partial?: boolean } = {},
): Map<string, Anomaly[]> {
  const t: AnomalyThresholds = { ...DEFAULT_THRESHOLDS, ...opts.thresholds };
  const out = new Map<string, Anomaly[]>();
  const add = (id: string, a: Anomaly) => {
    const list = out.get(id);
    if (list) list.push(a);
    else out.set(id, [a]);
  };
  const oldestFirst = [...sets].sort((a, b) => a.time.getTime() - b.time.getTime() || (a.id < b.id ? -1 : 1));

  // Sizes, per kind.
  const history = new Map<ObjectKind, number[]>();
  for (const set of oldestFirst) {
    for (const o of set.objects) {
      const [one, many] = KIND_NOUNS[o.kind];
      if (o.size === 0) {
        add(set.id, { kind: o.kind, type: "shrink", level: "critical", ratio: 0, reason: `The ${one} is empty (0 B): the backup job stored nothing.` });
      }
      if (!SIZED_KINDS.has(o.kind)) continue;
      const prev = history.get(o.kind) ?? [];
      const v = judgeSize(o.size, prev, t);
      if (v) {
        const base = `${describeBytes(o.size)} is ${describeRatio(v.ratio)} the median of the previous ${v.window} ${many} (${describeBytes(v.median)})`;
        const meaning =
          v.type === "shrink"
            ? "a truncated or partial backup looks like this."
            : v.level === "critical"
              ? "the database may be growing without bound (stuck compaction)."
              : "unusual growth.";
        add(set.id, { kind: o.kind, type: v.type, level: v.level, ratio: round3(v.ratio), reason: `${base}: ${meaning}` });
      }
      prev.push(o.size);
      history.set(o.kind, prev);
    }
  }

  if (opts.partial) return out;

  // Intervals, per format, between sets that count as backups.
  const backups = oldestFirst.filter(countsAsBackup);
  const intervals = new Map<SetFormat, number[]>();
  const lastTime = new Map<SetFormat, number>();
  for (const set of backups) {
    const last = lastTime.get(set.format);
    lastTime.set(set.format, set.time.getTime());
    if (last === undefined) continue;
    const d = set.time.getTime() - last;
    const prev = intervals.get(set.format) ?? [];
    if (prev.length >= t.minHistory) {
      const usual = median(prev.slice(-t.window));
      if (usual > 0 && d > t.gapWarning * usual) {
        const r = d / usual;
        add(set.id, {
          kind: "set",
          type: "gap",
          level: "warning",
          ratio: round3(r),
          reason: `${describeDuration(d)} since the previous backup, ${describeRatio(r)} the usual interval (${describeDuration(usual)}): a backup was probably missed.`,
        });
      }
    }
    prev.push(d);
    intervals.set(set.format, prev);
  }

  // Staleness of the newest backup, at the time of reading.
  const newest = backups[backups.length - 1];
  const now = opts.now ?? new Date();
  const prev = newest ? (intervals.get(newest.format) ?? []) : [];
  if (newest && prev.length >= t.minHistory) {
    const usual = median(prev.slice(-t.window));
    // A name dated ahead of when the store received it (a host clock that ran ahead) must not make the
    // store look fresh until that date: the age runs from the newest backup's receipt when that is earlier.
    const since = receivedBefore(
      newest.time.getTime(),
      backups.flatMap((s) => s.objects),
    );
    const age = now.getTime() - since;
    if (usual > 0 && age > t.staleCritical * usual) {
      const r = age / usual;
      const what =
        since < newest.time.getTime() ? `was received ${describeDuration(age)} ago (its name is dated ahead of that)` : `is ${describeDuration(age)} old`;
      add(newest.id, {
        kind: "set",
        type: "stale",
        level: "critical",
        ratio: round3(r),
        reason: `The newest backup ${what}, ${describeRatio(r)} the usual interval (${describeDuration(usual)}): backups may have stopped.`,
      });
    }
  }
  return out;
}

/** The highest level among anomalies, or null. */
export function worstLevel(anomalies: readonly Anomaly[]): Anomaly["level"] | null {
  if (anomalies.some((a) => a.level === "critical")) return "critical";
  return anomalies.length ? "warning" : null;
}
