import { z } from "zod";
import { ObjectKind, SetFormat } from "./backup-names";
import { BackupManifest } from "./manifest";
import { Explanation, SetStatistics, StatisticsColumns } from "./set-statistics";

export const AnomalyType = z.enum(["growth", "shrink", "gap", "stale"]);
export type AnomalyType = z.infer<typeof AnomalyType>;
export const AnomalyLevel = z.enum(["warning", "critical"]);
export type AnomalyLevel = z.infer<typeof AnomalyLevel>;

export const Anomaly = z.object({
  /** The object kind whose series raised it; for gap/stale, the set as a whole ("set"). */
  kind: z.union([ObjectKind, z.literal("set")]),
  type: AnomalyType,
  level: AnomalyLevel,
  /** Size or interval divided by the median it was compared with. */
  ratio: z.number().optional(),
  /** The reason in words, e.g. "228.3 MB is 4.2× the median of the previous 7 file archives (54.1 MB)". */
  reason: z.string(),
});
export type Anomaly = z.infer<typeof Anomaly>;

export const CatalogObject = z.object({
  key: z.string(),
  kind: ObjectKind,
  size: z.number().int().nonnegative(),
  lastModified: z.string(),
});
export type CatalogObject = z.infer<typeof CatalogObject>;

/** Restore-drill state of a set (filled in by the dashboard once drills exist). */
export const Verification = z.object({
  state: z.enum(["not-verified", "running", "verified", "failed"]),
  at: z.string().nullable(),
  reason: z.string().nullable(),
});
export type Verification = z.infer<typeof Verification>;

export const CatalogSet = z.object({
  id: z.string(),
  format: SetFormat,
  timestamp: z.string(),
  objects: z.array(CatalogObject),
  /** Kinds a complete set of this format has that this one lacks. */
  missing: z.array(ObjectKind),
  anomalies: z.array(Anomaly),
  verification: Verification.optional(),
});
export type CatalogSet = z.infer<typeof CatalogSet>;

export const OtherObject = z.object({ key: z.string(), size: z.number().int().nonnegative(), lastModified: z.string() });
export type OtherObject = z.infer<typeof OtherObject>;

/**
 * A set in a folder below the store (`cluster-b/lifeboat_…`, `pinned/lifeboat_…`): another cluster's
 * under a longer prefix, or a copy kept by hand. Listed apart; never in the history, the size series,
 * the flags, the alerts, the drills or the restore wizard (the agent's `setFolder` rule).
 */
export const NestedSet = CatalogSet.omit({ anomalies: true, verification: true }).extend({
  /** The folder below the store's prefix, with its trailing slash. */
  folder: z.string(),
});
export type NestedSet = z.infer<typeof NestedSet>;

/** GET /api/backups */
export const CatalogResponse = z.object({
  sets: z.array(CatalogSet),
  other: z.array(OtherObject),
  /** Sets in folders below the store, by folder then newest first: not this store's (NestedSet). */
  nested: z.array(NestedSet).optional(),
  /** When the cached listing was last refreshed successfully; null before the first success. */
  refreshedAt: z.string().nullable(),
  /** Where the listing comes from, e.g. "s3://bucket/prefix at http://host:9000". No secrets. */
  source: z.string().optional(),
  /** Set when the last refresh failed: the banner text. The listing above is the last good one. */
  error: z.object({ failure: z.string(), message: z.string(), at: z.string() }).nullable().optional(),
  /** Paging and filtering (`?flag=&offset=&limit=`): sets matching the filter before paging. */
  total: z.number().int().nonnegative().optional(),
  offset: z.number().int().nonnegative().optional(),
  limit: z.number().int().nonnegative().nullable().optional(),
  flag: z.string().optional(),
  /** Sets per filter (all, flagged, critical, warning, growth, shrink, gap, stale, incomplete). */
  counts: z.record(z.string(), z.number().int().nonnegative()).optional(),
});
export type CatalogResponse = z.infer<typeof CatalogResponse>;

/** Filters of the history (`?flag=`): every set, flagged ones, by level, by anomaly type, incomplete sets. */
export const CATALOG_FILTERS = ["all", "flagged", "critical", "warning", "growth", "shrink", "gap", "stale", "incomplete"] as const;
export const CatalogFilter = z.enum(CATALOG_FILTERS);
export type CatalogFilter = z.infer<typeof CatalogFilter>;

/** GET /api/catalog and the answer of POST /api/catalog/refresh: how fresh the cached view is. */
export const CatalogStatus = z.object({
  configured: z.boolean(),
  source: z.string(),
  endpoint: z.string().nullable(),
  bucket: z.string().nullable(),
  prefix: z.string().nullable(),
  refreshedAt: z.string().nullable(),
  attemptedAt: z.string().nullable(),
  refreshing: z.boolean(),
  objectCount: z.number().int().nonnegative(),
  refreshIntervalSeconds: z.number().positive(),
  /** While a refresh runs: objects listed so far (a first listing of a big bucket takes a while). */
  listing: z.object({ objects: z.number().int().nonnegative(), startedAt: z.string() }).nullable().optional(),
  error: z.object({ failure: z.string(), message: z.string(), at: z.string() }).nullable(),
});
export type CatalogStatus = z.infer<typeof CatalogStatus>;

/** The manifest of a set as the detail page shows it: absent (seed sets), read, or why not. */
export const ManifestState = z.discriminatedUnion("state", [
  z.object({ state: z.literal("absent") }),
  z.object({ state: z.literal("ok"), manifest: BackupManifest }),
  /** The object exists but is not a valid manifest (the message says what is wrong). */
  z.object({ state: z.literal("invalid"), message: z.string() }),
  /** The store could not be read just now (and no copy is cached). */
  z.object({ state: z.literal("unavailable"), message: z.string() }),
]);
export type ManifestState = z.infer<typeof ManifestState>;

/** GET /api/backups/:id */
export const CatalogSetDetail = z.object({
  set: CatalogSet,
  /** Ids of the neighbouring sets in time (any format), for previous/next links. */
  newerId: z.string().nullable(),
  olderId: z.string().nullable(),
  manifest: ManifestState,
  /** The database statistics kept for this set (manifest or restore drill); null when none yet. */
  statistics: SetStatistics.nullable().optional(),
  /** Why a set flagged for its size (growth, shrink) is that size; null for other sets. */
  explanation: Explanation.nullable().optional(),
});
export type CatalogSetDetail = z.infer<typeof CatalogSetDetail>;

/**
 * GET /api/backups/series: the size trend in columns (what uPlot draws; built by lib/backups/series):
 * one x value per set (Unix seconds, oldest first), one size series per object kind with `null`
 * where a set has no object of that kind, and the marked points. Compact enough to ship 10,000 sets.
 */
export const SizeChartAnswer = z.object({
  times: z.array(z.number()),
  setIds: z.array(z.string()),
  series: z.array(z.object({ kind: ObjectKind, label: z.string(), sizes: z.array(z.number().nullable()) })),
  flags: z.array(
    z.object({
      /** Index into `times`/`setIds`. */
      index: z.number().int(),
      /** The series the point sits on; "set" (gap, stale) sits on the set's first series. */
      kind: z.union([ObjectKind, z.literal("set")]),
      level: AnomalyLevel,
      type: AnomalyType,
      reason: z.string(),
    }),
  ),
  /** Rows, live keys and compaction lag of the sets with statistics (the chart's overlay). */
  statistics: StatisticsColumns.optional(),
});

/** POST /api/catalog/refresh: the refresh's outcome (not part of the contract) and the status after it. */
export const CatalogRefreshAnswer = z.looseObject({ status: CatalogStatus });
