import { z } from "zod";
import { queryInt } from "./query";

/**
 * Continuous protection (issue 16): kine's new rows shipped as small encrypted segments, and the
 * names those objects carry in the store (docs/continuous.md).
 *
 *   lifeboat-log_<gen>_<first>-<last>_<at>.sql.zst.gpg   one segment: revisions first..last (12 digits each,
 *                                                       so names sort by revision), read at <at>
 *   lifeboat-log_<gen>_<first>-<last>_<at>.compacted.sql.zst.gpg   many segments folded into one (compaction.ts):
 *                                                       only what kine's compaction keeps; points inside are not reachable
 *   lifeboat-log_<gen>_<first>-<last>_<at>.checkpoint.sql.zst.gpg  the open window so far, folded like a compacted
 *                                                       object while its segments stay: a shortcut to points after it
 *   lifeboat-log_<gen>_generation.json                   a generation's marker: its base set and why it began
 *
 * <gen> and <at> are UTC times `YYYYMMDDTHHMMSSZ`. <at> is when the read ended, rounded UP to the whole
 * second: every row of the segment was written at or before <at>, so "the newest segment read at or
 * before T" by name never holds a row written after T (names written by earlier versions carry the read's
 * start truncated to the second instead). A segment is SQL text (kine's INSERTs), zstd, then OpenPGP like
 * every archive: `gpg -d | zstd -d | sqlite3 state.db` applies it.
 */

const GEN = String.raw`(\d{8}T\d{6}Z)`;
const SEGMENT_RE = new RegExp(String.raw`^lifeboat-log_${GEN}_(\d{12})-(\d{12})_${GEN}(\.compacted|\.checkpoint)?\.sql\.zst\.gpg$`);
const GENERATION_RE = new RegExp(String.raw`^lifeboat-log_${GEN}_generation\.json$`);

/** Formats a Date as `YYYYMMDDTHHMMSSZ`, the time form of log object names. */
export function formatLogTime(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}Z$/, "Z");
}

/**
 * Formats a read time as a segment name's `<at>`: rounded UP to the whole second (a time already on
 * the second stays), so the name is never earlier than the read it names.
 */
export function formatReadTime(d: Date): string {
  return formatLogTime(new Date(Math.ceil(d.getTime() / 1000) * 1000));
}

/** Parses `YYYYMMDDTHHMMSSZ`; null when it is not one. */
export function parseLogTime(s: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return null;
  const t = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
  return Number.isNaN(t.getTime()) ? null : t;
}

export interface SegmentName {
  generation: string;
  first: number;
  last: number;
  /** When its rows were read from the database, rounded up to the second: every row in it was written at or before it. */
  readAt: Date;
  key: string;
  /** Folded from several segments: a restore can end at its start or its end, not inside it. */
  compacted?: boolean;
  /**
   * A checkpoint (compaction.ts checkpointLog): folded like a compacted object (so `compacted` too), but
   * the segments it folds stay, so every point inside stays reachable through them. Listed apart from
   * the segments (LogGeneration.checkpoints); a restore uses one only as a shortcut to a point after it.
   */
  checkpoint?: boolean;
}

const pad = (n: number) => String(n).padStart(12, "0");

/** The object name of a segment read at `readAt` (rounded up to the second: formatReadTime). */
export function segmentKey(generation: string, first: number, last: number, readAt: Date, compacted: boolean | "checkpoint" = false): string {
  const kind = compacted === "checkpoint" ? ".checkpoint" : compacted ? ".compacted" : "";
  return `lifeboat-log_${generation}_${pad(first)}-${pad(last)}_${formatReadTime(readAt)}${kind}.sql.zst.gpg`;
}

/** The object name of a generation's marker. */
export function generationKey(generation: string): string {
  return `lifeboat-log_${generation}_generation.json`;
}

/** Recognizes a segment by its base name; null for anything else. */
export function parseSegmentKey(key: string): SegmentName | null {
  const base = key.slice(key.lastIndexOf("/") + 1);
  const m = SEGMENT_RE.exec(base);
  if (!m) return null;
  const readAt = parseLogTime(m[4]);
  const first = Number(m[2]);
  const last = Number(m[3]);
  if (!readAt || !parseLogTime(m[1]) || last < first) return null;
  return { generation: m[1], first, last, readAt, key, ...(m[5] ? { compacted: true } : {}), ...(m[5] === ".checkpoint" ? { checkpoint: true } : {}) };
}

/** The generation a marker's name carries; null for anything else. */
export function parseGenerationKey(key: string): string | null {
  const m = GENERATION_RE.exec(key.slice(key.lastIndexOf("/") + 1));
  return m && parseLogTime(m[1]) ? m[1] : null;
}

/** `lifeboat-log_<gen>_generation.json`: written before the generation's first segment. No secrets. */
export const GenerationMarker = z.object({
  version: z.literal(1),
  generation: z.string(),
  startedAt: z.string(),
  /** Why it began: "first start", "the database was replaced (revision went back from 9000 to 120)", … */
  reason: z.string(),
  /** The backup set taken as its base, and that set's revision (MAX(id)). */
  baseSetId: z.string(),
  baseRevision: z.number().int().nonnegative(),
  host: z.string(),
});
export type GenerationMarker = z.infer<typeof GenerationMarker>;

/**
 * One UTC day of the log: the bytes of the segments uploaded whose rows were read that day, in the
 * current generation (a new generation starts a new series). `ended`: the day is over and judged;
 * `in-progress`: today, judged for growth only (its bytes can only rise); `generation-start`: the
 * generation began that day, so the day is partial — shown, neither judged nor used as history.
 */
export const LogDay = z.object({
  /** `YYYY-MM-DD`, UTC. */
  day: z.string(),
  bytes: z.number().int().nonnegative(),
  segments: z.number().int().nonnegative(),
  state: z.enum(["ended", "in-progress", "generation-start"]),
});
export type LogDay = z.infer<typeof LogDay>;

/** A flag on one day of the log's bytes: the backups' size rules (lib/backups/anomalies.ts `judgeSize`) over the daily series. */
export const LogDayAnomaly = z.object({
  day: z.string(),
  type: z.enum(["growth", "shrink"]),
  level: z.enum(["warning", "critical"]),
  /** The day's bytes ÷ the median of the previous days. */
  ratio: z.number(),
  /** "18.2 MB shipped on 2026-12-02 is 3.1× the median of the previous 7 days (5.9 MB): …" */
  reason: z.string(),
});
export type LogDayAnomaly = z.infer<typeof LogDayAnomaly>;

/** The protection line of GET /continuous and of /health (`continuous`). */
export const ContinuousStatus = z.object({
  enabled: z.boolean(),
  /** Why it is off or stuck, in a sentence; null when it ships. */
  problem: z.string().nullable(),
  intervalSeconds: z.number().int().nonnegative(),
  generation: z.string().nullable(),
  generationReason: z.string().nullable(),
  baseSetId: z.string().nullable(),
  /** The newest revision in the store, and when it was read from the database. */
  shippedRevision: z.number().int().nonnegative().nullable(),
  shippedAt: z.string().nullable(),
  /** Seconds since shippedAt: "protected up to N s ago". */
  lagSeconds: z.number().nonnegative().nullable(),
  /** Segments of the current generation uploaded (since the generation began), and their bytes. */
  segments: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  /** Segments read but not yet uploaded (the store was unreachable). */
  pendingSegments: z.number().int().nonnegative(),
  /** The generation's bytes per UTC day, oldest first (at most 30 days; days with no upload are absent, not 0). */
  dailyBytes: z.array(LogDay).default([]),
  /** The flags that stand now: the newest ended day's, and growth of the day in progress. Empty when none. */
  dailyAnomalies: z.array(LogDayAnomaly).default([]),
});
export type ContinuousStatus = z.infer<typeof ContinuousStatus>;

/** True for the log's objects (segments and generation markers). */
export function isLogObjectKey(key: string): boolean {
  return parseSegmentKey(key) !== null || parseGenerationKey(key) !== null;
}

// ---------------------------------------------------------------------------------------------
// The timeline (GET /continuous/timeline): the points a restore can reach after a base, read from
// the segments themselves (the live database may be the broken thing). Object names only, never values.

/** One object changed at one revision: kine's key shown as kind/namespace/name. */
export const TimelineChange = z.object({
  revision: z.number().int().positive(),
  change: z.enum(["created", "updated", "deleted"]),
  /** The resource type ("deployments", "configmaps", "bootstrap", "other"). */
  kind: z.string(),
  /** null for cluster-scoped objects. */
  namespace: z.string().nullable(),
  name: z.string(),
});
export type TimelineChange = z.infer<typeof TimelineChange>;

/** One segment of the log as a point: the database at `last`, read at `readAt`, and what changed in it. */
export const TimelinePoint = z.object({
  segment: z.string(),
  first: z.number().int().nonnegative(),
  last: z.number().int().nonnegative(),
  readAt: z.string(),
  /** read: its changes are listed; damaged: it does not open or is not whole; not-read: beyond the cap. */
  state: z.enum(["read", "damaged", "not-read"]),
  /** False when a gap lies between the base and this point: a restore stops before the gap. */
  reachable: z.boolean(),
  /**
   * A compacted object (log compaction folded these revisions): only its end, and its start (`first` − 1),
   * can be restored, not a point inside it. Absent from agents before it: false.
   */
  compacted: z.boolean().optional(),
  /** Objects changed, by revision (leases and events left out: they change every few seconds). */
  changes: z.array(TimelineChange),
  /** Rows of leases and events in it, counted, not listed. */
  churn: z.number().int().nonnegative(),
  /** Changes left out of `changes` by the cap on rows. */
  changesOmitted: z.number().int().nonnegative(),
});
export type TimelinePoint = z.infer<typeof TimelinePoint>;

/** Revisions the log cannot give back: a segment missing from the sequence, or one that is damaged. */
export const TimelineGap = z.object({
  lostFrom: z.number().int().nonnegative(),
  lostTo: z.number().int().nonnegative(),
  /** The damaged segment; null when none is there for those revisions. */
  segment: z.string().nullable(),
  why: z.string(),
});
export type TimelineGap = z.infer<typeof TimelineGap>;

/** GET /continuous/timeline?setId=<id|latest> */
export const LogTimeline = z.object({
  setId: z.string(),
  /** False when no point after the base can be restored (no log, a CronJob set, protection off); `why` says why. */
  available: z.boolean(),
  why: z.string().nullable(),
  generation: z.string().nullable(),
  baseSetId: z.string().nullable(),
  baseRevision: z.number().int().nonnegative().nullable(),
  /** The newest revision the log holds, and when it was read. */
  logEnd: z.number().int().nonnegative().nullable(),
  logEndAt: z.string().nullable(),
  /** Oldest first. */
  points: z.array(TimelinePoint),
  gaps: z.array(TimelineGap),
  /** The newest revision a restore can reach (before the first gap). */
  newestReachable: z.object({ revision: z.number().int().nonnegative(), readAt: z.string().nullable() }).nullable(),
  segmentsTotal: z.number().int().nonnegative(),
  segmentsRead: z.number().int().nonnegative(),
  /** Where reading stopped (the caps), in a sentence; null when every point was read. */
  stopped: z.string().nullable(),
});
export type LogTimeline = z.infer<typeof LogTimeline>;

export const TimelineQuery = z.object({
  setId: z.string().min(1).default("latest"),
  /** At most this many segments are opened (the newest). */
  segments: queryInt(1, 500).default(120),
});
export type TimelineQuery = z.infer<typeof TimelineQuery>;
