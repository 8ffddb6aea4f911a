import { z } from "zod";
import { KeyPrefixStat } from "./manifest";

/**
 * Statistics per backup set and the explanation of a flagged set (issue 14). A Lifeboat set's come
 * from its manifest, a seed set's from its restore drill (the agent reads the staged database);
 * both are the agent's KineStats, turned into this one shape by lib/backups/statistics.ts and kept
 * per set in the dashboard's lifeboat.db.
 */

/** What the dashboard knows about the kine database inside one backup set. */
export const SetStatistics = z.object({
  setId: z.string(),
  /** Where they were read: the set's manifest, or the restore drill that opened the set. */
  from: z.enum(["manifest", "drill"]),
  /** When the set was taken (its timestamp). */
  takenAt: z.string(),
  /** When the dashboard recorded them. */
  recordedAt: z.string(),
  fileSize: z.number().int().nonnegative(),
  pageSize: z.number().int().positive(),
  pageCount: z.number().int().nonnegative(),
  freelistCount: z.number().int().nonnegative(),
  rowCount: z.number().int().nonnegative(),
  /** Keys whose newest row is not a deletion. */
  liveKeys: z.number().int().nonnegative(),
  currentRevision: z.number().int().nonnegative(),
  compactRevision: z.number().int().nonnegative(),
  compactionLag: z.number().int().nonnegative(),
  /** Rows compaction would delete now: superseded versions and tombstones ("dead rows"). */
  deadRows: z.number().int().nonnegative(),
  /** Rows and bytes (and live keys, when the agent counted them) by key prefix. */
  prefixes: z.array(KeyPrefixStat),
  /** False when only the largest prefixes are known (a manifest of an agent before issue 14): a prefix missing here may exist. */
  prefixesComplete: z.boolean(),
  /** The three-segment prefixes with most rows (`/registry/leases/kube-system`); empty when not counted. */
  subPrefixes: z.array(KeyPrefixStat),
  /** About when compaction last advanced, when the database tells (see KineStats.compactRevisionWrittenAt). */
  compactRevisionWrittenAt: z.string().nullable(),
});
export type SetStatistics = z.infer<typeof SetStatistics>;

export const EXPLANATION_CAUSE_KINDS = ["compaction-stalled", "prefix-growth", "dead-rows", "freelist", "normal-growth", "unknown"] as const;
export const ExplanationCauseKind = z.enum(EXPLANATION_CAUSE_KINDS);
export type ExplanationCauseKind = z.infer<typeof ExplanationCauseKind>;

/** One cause of a flagged set's size, with what to do about it in `text`. */
export const ExplanationCause = z.object({
  kind: ExplanationCauseKind,
  /** The key prefix it is about (`/registry/events`), for prefix growth. */
  prefix: z.string().optional(),
  /** Rows more (or fewer) than in the baseline set. */
  rowsDelta: z.number().int().optional(),
  /** Bytes more (or fewer) than in the baseline set: the prefix's values for prefix growth, free pages for freelist, else the database file. */
  bytesDelta: z.number().int().optional(),
  /** What was found and what to do, in words. */
  text: z.string(),
});
export type ExplanationCause = z.infer<typeof ExplanationCause>;

/**
 * Why a flagged set is the size it is, against the newest unflagged set of the same series (its
 * baseline). Causes are ranked, most important first. Carried by GET /api/backups/:id.
 */
export const Explanation = z.object({
  /** The set compared with; null when the series has no older unflagged set. */
  baselineSetId: z.string().nullable(),
  /** The verdict in words; its first line is the summary alerts carry (explanationFirstLine). */
  verdict: z.string(),
  causes: z.array(ExplanationCause),
});
export type Explanation = z.infer<typeof Explanation>;

/**
 * The statistics columns of GET /api/backups/series, aligned with its `times` and `setIds`: null
 * where a set has no statistics (a seed set not drilled yet).
 */
export const StatisticsColumns = z.object({
  rows: z.array(z.number().nullable()),
  liveKeys: z.array(z.number().nullable()),
  compactionLag: z.array(z.number().nullable()),
});
export type StatisticsColumns = z.infer<typeof StatisticsColumns>;
