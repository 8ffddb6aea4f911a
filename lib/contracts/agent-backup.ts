import { z } from "zod";
import { ObjectKind, SetFormat } from "./backup-names";
import { BackupManifest, KineStats } from "./manifest";

/**
 * The agent's backup endpoints (issue 3), shared by the agent's router and the dashboard's AgentClient.
 *
 *   POST /backups        StartBackupRequest  → 202 JobStarted | 409 JobConflict; the job's result is BackupResult
 *   GET  /backups        → BackupList (the sets in the store, grouped by timestamp)
 *   POST /retention      RetentionRequest    → RetentionReport (dryRun: what would be deleted and why)
 *   GET  /stats          → LiveStats (statistics of a fresh snapshot of the live database)
 */

/** POST /backups. Unknown fields are refused (400) so a typo never silently changes behaviour. */
export const StartBackupRequest = z.strictObject({
  /** Apply the retention policy after the backup succeeds (default true). */
  retention: z.boolean().default(true),
  /**
   * Upload even when the passphrase does not open the newest existing set (a deliberate passphrase
   * change). Default false: the backup fails instead, because its archives would not open with the
   * passphrase that opens the older ones.
   */
  allowNewPassphrase: z.boolean().default(false),
});
export type StartBackupRequest = z.infer<typeof StartBackupRequest>;
export type StartBackupInput = z.input<typeof StartBackupRequest>;

export const RetentionAction = z.enum(["keep", "delete", "ignore"]);
export type RetentionAction = z.infer<typeof RetentionAction>;

/** What retention does with one set, and why (in words). */
export const RetentionDecision = z.object({
  setId: z.string(),
  format: SetFormat,
  timestamp: z.string(),
  action: RetentionAction,
  /** e.g. "one of the last 7 sets", "newest of 2024-12-18 (daily 1 of 7)", "seed set: never deleted". */
  reasons: z.array(z.string()),
  /** Objects of the set; for "delete", exactly the objects that are (or would be) deleted. */
  keys: z.array(z.string()),
});
export type RetentionDecision = z.infer<typeof RetentionDecision>;

export const RetentionPolicy = z.object({
  keepLast: z.number().int().nonnegative(),
  keepDaily: z.number().int().nonnegative(),
  keepWeekly: z.number().int().nonnegative(),
  keepMonthly: z.number().int().nonnegative(),
});
export type RetentionPolicy = z.infer<typeof RetentionPolicy>;

/** POST /retention. `dryRun` defaults to true: deleting must be asked for explicitly. */
export const RetentionRequest = z.strictObject({ dryRun: z.boolean().default(true) });
export type RetentionRequest = z.infer<typeof RetentionRequest>;
export type RetentionInput = z.input<typeof RetentionRequest>;

/**
 * What retention does with one generation of the continuous-protection log (docs/continuous.md):
 * "keep" (every object stays), "trim" (segments no kept base needs go), "delete" (an old generation
 * with no kept base: its segments, then its marker).
 */
export const LogRetentionGeneration = z.object({
  generation: z.string(),
  action: z.enum(["keep", "trim", "delete"]),
  reasons: z.array(z.string()),
  /** The kept backup sets that are bases of this generation, and the oldest one's revision. */
  keptBases: z.array(z.string()),
  oldestKeptBaseRevision: z.number().int().nonnegative().nullable(),
  segmentsKept: z.number().int().nonnegative(),
  segmentsDeleted: z.number().int().nonnegative(),
  bytesKept: z.number().int().nonnegative(),
  /** Bytes of the objects deleted (or, on a dry run, that would be). */
  bytesDeleted: z.number().int().nonnegative(),
  /** The objects deleted (or that would be), in the order they go: oldest segment first, the marker last. */
  keys: z.array(z.string()),
});
export type LogRetentionGeneration = z.infer<typeof LogRetentionGeneration>;

/** The log's part of a retention run: segments are kept while their base is kept. */
export const LogRetention = z.object({
  /** Oldest first. */
  generations: z.array(LogRetentionGeneration),
  summary: z.object({
    generationsKept: z.number().int().nonnegative(),
    generationsDeleted: z.number().int().nonnegative(),
    segmentsKept: z.number().int().nonnegative(),
    segmentsDeleted: z.number().int().nonnegative(),
    /** Bytes freed (on a dry run: that would be). */
    bytesFreed: z.number().int().nonnegative(),
  }),
});
export type LogRetention = z.infer<typeof LogRetention>;

export const RetentionReport = z.object({
  dryRun: z.boolean(),
  policy: RetentionPolicy,
  /** Newest first. */
  sets: z.array(RetentionDecision),
  summary: z.object({ keep: z.number().int(), delete: z.number().int(), ignore: z.number().int() }),
  /** Keys actually deleted (empty on a dry run). */
  deleted: z.array(z.string()),
  /** Deletions that failed; the rest went ahead. */
  failed: z.array(z.object({ key: z.string(), message: z.string() })),
  /** The continuous-protection log's part; null from an agent that predates it. */
  log: LogRetention.nullable().default(null),
});
export type RetentionReport = z.infer<typeof RetentionReport>;

/** The `result` of a succeeded backup job (GET /jobs/:id). */
export const BackupResult = z.object({
  setId: z.string(),
  /** The set's objects: `secrets` in the one-copy layout, `files` and `token` in the two-copy layout. */
  keys: z.object({ logical: z.string(), secrets: z.string().optional(), files: z.string().optional(), token: z.string().optional(), manifest: z.string() }),
  manifest: BackupManifest,
  /** What the passphrase was checked against before uploading, in words. */
  passphraseCheck: z.string(),
  retention: RetentionReport.nullable(),
  /** Set when the backup succeeded but retention afterwards failed. */
  retentionError: z.string().nullable(),
});
export type BackupResult = z.infer<typeof BackupResult>;

export const ListedObject = z.object({ key: z.string(), kind: ObjectKind, size: z.number().int().nonnegative(), lastModified: z.string() });
export type ListedObject = z.infer<typeof ListedObject>;

export const ListedSet = z.object({
  id: z.string(),
  format: SetFormat,
  timestamp: z.string(),
  /** True when every kind of its format is present (for Lifeboat sets: the manifest marks completion). */
  complete: z.boolean(),
  missing: z.array(ObjectKind),
  objects: z.array(ListedObject),
  /** Sum of the objects' sizes. */
  size: z.number().int().nonnegative(),
});
export type ListedSet = z.infer<typeof ListedSet>;

/** GET /backups */
export const BackupList = z.object({
  /** Where the sets are, e.g. "s3://bucket/prefix at http://host:9000". No secrets. */
  source: z.string(),
  /** Newest first. */
  sets: z.array(ListedSet),
  /** Objects that are not part of any backup set Lifeboat knows. */
  other: z.array(z.object({ key: z.string(), size: z.number().int().nonnegative(), lastModified: z.string() })),
  schedule: z.object({ cron: z.string().nullable(), nextRunAt: z.string().nullable() }),
});
export type BackupList = z.infer<typeof BackupList>;

/** GET /stats: statistics of the live database, computed on a fresh snapshot (never on the live file). */
export const LiveStats = z.object({
  dbPath: z.string(),
  takenAt: z.string(),
  snapshot: z.object({ method: z.string(), ms: z.number().nonnegative(), bytes: z.number().int().nonnegative() }),
  /** Sizes of the live files as they are on disk (stat only, the database is not read). */
  liveFiles: z.object({ db: z.number().int().nonnegative(), wal: z.number().int().nonnegative().nullable() }),
  stats: KineStats,
});
export type LiveStats = z.infer<typeof LiveStats>;

/**
 * GET /backups/last: the agent's record of its last successful and last failed backup (any trigger:
 * the schedule, POST /backups, the `backup` command), kept on disk so it survives restarts. The
 * dashboard's LifeboatBackupJobFailed alert and the agent's /metrics read it.
 */
export const BackupOutcome = z.object({
  lastSuccess: z
    .object({ at: z.string(), jobId: z.string(), setId: z.string(), durationSeconds: z.number().nonnegative(), bytes: z.number().int().nonnegative() })
    .nullable(),
  lastFailure: z.object({ at: z.string(), jobId: z.string(), durationSeconds: z.number().nonnegative(), error: z.string() }).nullable(),
});
export type BackupOutcome = z.infer<typeof BackupOutcome>;
