import { z } from "zod";
import { ContinuousStatus } from "./continuous";
import { KineStats } from "./manifest";

/**
 * The agent's health endpoint (issue 4), shared by the agent's router and the dashboard's AgentClient.
 *
 *   GET /health                       → HealthReport (quick_check on every call)
 *   GET /health?integrity=full        → HealthReport with a full PRAGMA integrity_check
 *
 * The restore wizard's "Where" step reads everything it shows from one HealthReport: whether the
 * database opens and passes its checks, kine's statistics, who owns the files, disk space for
 * staging, and whether k3s is running.
 */

export const HealthLevel = z.enum(["ok", "warning", "critical"]);
export type HealthLevel = z.infer<typeof HealthLevel>;

/** One finding, in words, with the exact fix when there is one. */
export const HealthReason = z.object({
  level: HealthLevel,
  /** Stable identifier for the UI, e.g. "quick_check_failed", "owner_mismatch", "compaction_stuck". */
  code: z.string(),
  /** e.g. "compaction lag 21,000 revisions: kine compaction appears stuck; backups will keep growing". */
  message: z.string(),
  /** A command or action that fixes it, e.g. "chown 0:0 /var/lib/rancher/k3s/server/db/state.db". */
  fix: z.string().nullable(),
});
export type HealthReason = z.infer<typeof HealthReason>;

export const FileSize = z.object({ path: z.string(), exists: z.boolean(), bytes: z.number().int().nonnegative().nullable() });
export type FileSize = z.infer<typeof FileSize>;

/** Owner and mode of one path compared with what k3s's files should have. */
export const OwnershipEntry = z.object({
  path: z.string(),
  exists: z.boolean(),
  kind: z.enum(["file", "directory", "symlink", "other"]).nullable(),
  uid: z.number().int().nullable(),
  gid: z.number().int().nullable(),
  /** Permission bits in octal, e.g. "0600". */
  mode: z.string().nullable(),
  expectedMode: z.string(),
  ok: z.boolean(),
  /** e.g. "owned by 1000:1000, expected 0:0". */
  problem: z.string().nullable(),
  /** The exact command that fixes it. */
  fix: z.string().nullable(),
});
export type OwnershipEntry = z.infer<typeof OwnershipEntry>;

export const CheckResult = z.object({
  ran: z.boolean(),
  ok: z.boolean(),
  /** SQLite's messages ("ok", or the first problems it found, at most 20). */
  messages: z.array(z.string()),
  millis: z.number().nonnegative(),
  /** When it ran (ISO time). */
  at: z.string().nullable(),
});
export type CheckResult = z.infer<typeof CheckResult>;

export const K3sState = z.object({
  /** The configured status command (LIFEBOAT_K3S_STATUS_CMD). */
  command: z.string(),
  /** "active", "inactive", "failed", "activating"… as the command printed it; "unknown" when it could not run. */
  state: z.string(),
  running: z.boolean(),
  /** False when the service does not seem to exist on this host (the command could not find it). */
  present: z.boolean(),
  /**
   * Processes that hold the database files open right now (k3s while it runs): the process name and
   * pid only, never its arguments (`k3s server --token=…` would show the token).
   */
  dbHolders: z.array(z.object({ pid: z.number().int(), name: z.string() })),
});
export type K3sState = z.infer<typeof K3sState>;

export const DiskSpace = z.object({
  /** The staging directory restores use (below LIFEBOAT_STATE_DIR). */
  stagingDir: z.string(),
  freeBytes: z.number().nonnegative(),
  totalBytes: z.number().nonnegative(),
  /** True when staging is on the server dir's filesystem (the swap is then a rename, never a copy). */
  sameFilesystemAsServer: z.boolean(),
  /** Bytes a restore of a database as large as the live one needs to stage (about twice its size). */
  neededForStaging: z.number().nonnegative(),
  enoughForStaging: z.boolean(),
});
export type DiskSpace = z.infer<typeof DiskSpace>;

/** GET /health */
export const HealthReport = z.object({
  checkedAt: z.string(),
  /** The agent's host name: the node name the restore wizard asks the user to type. */
  host: z.string(),
  serverDir: z.string(),
  dbPath: z.string(),
  verdict: HealthLevel,
  /** Worst first. Empty when everything is fine. */
  reasons: z.array(HealthReason),
  files: z.object({ db: FileSize, wal: FileSize, shm: FileSize }),
  database: z.object({
    /** The database opened (read-only) and answered. */
    opened: z.boolean(),
    /** SQLite's error when it did not, e.g. "file is not a database". */
    error: z.string().nullable(),
    /** Where the checks ran: the live file (read-only), or a copy when the live files could not be opened safely. */
    checkedOn: z.enum(["live", "copy"]),
    journalMode: z.string().nullable(),
    pageSize: z.number().int().nullable(),
    pageCount: z.number().int().nullable(),
    freelistCount: z.number().int().nullable(),
    /** freelistCount / pageCount. */
    freelistRatio: z.number().nullable(),
  }),
  quickCheck: CheckResult,
  /** The full integrity_check: this call's when asked (`?integrity=full`), else the last scheduled one (or null). */
  integrityCheck: CheckResult.nullable(),
  kine: KineStats.nullable(),
  /** Why kine statistics are missing, when they are. */
  kineError: z.string().nullable(),
  ownership: z.object({ expected: z.object({ uid: z.number().int(), gid: z.number().int() }), entries: z.array(OwnershipEntry) }),
  disk: DiskSpace,
  k3s: K3sState,
  /** A restore that is waiting for confirmation, running, or was interrupted (see GET /restores/:id). */
  pendingRestoreId: z.string().nullable(),
  millis: z.number().nonnegative(),
  /** Continuous protection's line (issue 16): "protected up to N s ago", generation, segments, bytes. Agents before it lack it. */
  continuous: ContinuousStatus.optional(),
});
export type HealthReport = z.infer<typeof HealthReport>;

export const HealthQuery = z.object({ integrity: z.enum(["quick", "full"]).default("quick") });
export type HealthQuery = z.infer<typeof HealthQuery>;
