import { z } from "zod";
import { KineStats } from "./manifest";

/**
 * The agent's restore endpoints (issue 4), shared by the agent's router and the dashboard's AgentClient.
 * A restore is staged, verified, then (after confirmation) k3s is stopped, the files swapped and k3s
 * started again. Every step is recorded in an on-disk journal, so GET /restores/:id answers across
 * agent restarts, and a restarted agent finishes or undoes an interrupted restore.
 *
 *   POST /restores                 StartRestoreRequest → 202 RestoreStarted | 409 JobConflict
 *                                  (dryRun: stage + verify only, the "restore drill"; job type "drill")
 *   GET  /restores                 → RestoreList (newest first)
 *   GET  /restores/:id             → RestoreRecord
 *   POST /restores/:id/confirm     ConfirmRestoreRequest → 202 RestoreStarted (stop → swap → start → check)
 *   POST /restores/:id/cancel      → RestoreRecord (drops the staged files; only before the swap)
 *   POST /restores/:id/rollback    → 202 RestoreStarted (puts the moved-aside database back)
 *   POST /restores/:id/done        → RestoreRecord (the user accepts the restore; rollback is no longer offered)
 *
 * Live progress (bytes, current step) is on GET /jobs/:jobId; the record carries the same steps and
 * survives restarts.
 */

/** What to restore from. */
export const RestoreSource = z.discriminatedUnion("kind", [
  /** A backup set from the store (`seed-<ts>` or `lifeboat-<ts>`); the agent picks the best object of it. */
  z.object({ kind: z.literal("backup"), setId: z.string().min(1) }),
  /** One object, by its key under AWS_S3_PATH (or LIFEBOAT_BACKUP_DIR). */
  z.object({ kind: z.literal("object"), key: z.string().min(1) }),
  /** The best database of a recovery attempt (POST /recoveries). */
  z.object({ kind: z.literal("recovery"), id: z.string().min(1) }),
  /** A file on the agent's host: a SQLite database, or an archive named like a backup object. */
  z.object({ kind: z.literal("file"), path: z.string().min(1) }),
]);
export type RestoreSource = z.infer<typeof RestoreSource>;

/** Which files beside the database to put back (when the source has them). */
export const RestoreInclude = z.object({
  /** The token that encrypts the datastore's bootstrap data (default true when the backup holds one). */
  token: z.boolean().default(true),
  cred: z.boolean().default(false),
  tls: z.boolean().default(false),
});
export type RestoreInclude = z.infer<typeof RestoreInclude>;

/** A restore to a point of the log: asked (toRevision/toTime), then found (generation, base, revision, readAt). */
export const RestorePoint = z.object({
  toRevision: z.number().int().nullable(),
  toTime: z.string().nullable(),
  generation: z.string().nullable(),
  baseSetId: z.string().nullable(),
  revision: z.number().int().nullable(),
  readAt: z.string().nullable(),
  segmentsApplied: z.number().int().nonnegative(),
});
export type RestorePoint = z.infer<typeof RestorePoint>;

/**
 * The time of a point restore (POST /restores' `toTime`, the CLI's --to-time, the dashboard wizard's
 * candidate): ISO 8601 with seconds and an offset (`Z` or `±hh:mm`), never the host's zone by default.
 * zod's datetime refuses a date the calendar does not have (2026-02-30, 2026-02-29, 2026-04-31), 24:00
 * and a leap second, rather than rolling them over as `new Date()` does (agent-restore.test.ts).
 */
export const PointTime = z.iso.datetime({ offset: true });

/** POST /restores. Unknown fields are refused (400). */
export const StartRestoreRequest = z.strictObject({
  source: RestoreSource,
  /** Stage and verify only, change nothing: the "restore drill" that proves a backup restores. */
  dryRun: z.boolean().default(false),
  include: RestoreInclude.default({ token: true, cred: false, tls: false }),
  /**
   * Go on past verification without waiting for POST /restores/:id/confirm (the CLI's --yes).
   * Default false: the restore stops in "awaiting-confirmation" with its staged files kept.
   */
  confirm: z.boolean().default(false),
  /** Compare the staged database with the live one (what restoring would lose). Default true. */
  compareWithLive: z.boolean().default(true),
  /**
   * Continuous protection (docs/continuous.md): bring the base set forward with the log to this
   * revision, or to the newest revision read at or before this ISO time. Only with a backup source,
   * whose setId may then be "latest".
   */
  toRevision: z.number().int().positive().optional(),
  toTime: PointTime.optional(),
});
export type StartRestoreRequest = z.infer<typeof StartRestoreRequest>;
export type StartRestoreInput = z.input<typeof StartRestoreRequest>;

/** POST /restores/:id/confirm */
export const ConfirmRestoreRequest = z.strictObject({
  /** When set, the agent refuses unless its host name is this (a guard against restoring the wrong node). */
  expectHost: z.string().optional(),
});
export type ConfirmRestoreRequest = z.infer<typeof ConfirmRestoreRequest>;

/** 202 answer of the endpoints that start restore work. */
export const RestoreStarted = z.object({ restoreId: z.string(), jobId: z.string() });
export type RestoreStarted = z.infer<typeof RestoreStarted>;

/** The steps of a drill, and of a restore before its confirmation: nothing on the server changes. */
export const STAGE_STEPS = ["stage", "verify"] as const;
/** The steps that change the server: a confirmed restore's, and (with other labels) a rollback's. */
export const SWAP_STEPS = ["stop", "swap", "ownership", "start", "check"] as const;
export const RestoreStepName = z.enum([...STAGE_STEPS, ...SWAP_STEPS]);
export type RestoreStepName = z.infer<typeof RestoreStepName>;

/** Every step of a restore in order, with its label. */
export const RESTORE_STEPS = [
  { name: "stage", label: "Download and unpack" },
  { name: "verify", label: "Verify" },
  { name: "stop", label: "Stop k3s" },
  { name: "swap", label: "Swap database" },
  { name: "ownership", label: "Owner and mode" },
  { name: "start", label: "Start k3s" },
  { name: "check", label: "Check" },
] as const satisfies readonly { name: RestoreStepName; label: string }[];

export const RestoreStep = z.object({
  name: RestoreStepName,
  label: z.string(),
  state: z.enum(["pending", "running", "done", "failed", "skipped"]),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  detail: z.string().nullable(),
});
export type RestoreStep = z.infer<typeof RestoreStep>;

/** Changes between two kine databases for one resource type (`/registry/<type>/…`). */
export const KeyTypeDiff = z.object({
  /** e.g. "deployments", "configmaps", "leases"; "bootstrap" for k3s's bootstrap data. */
  type: z.string(),
  /** Objects that exist in the current database but not in the candidate: restoring removes them. */
  onlyInCurrent: z.number().int().nonnegative(),
  /** Objects that exist in the candidate but not (any more) in the current one: restoring brings them back. */
  onlyInCandidate: z.number().int().nonnegative(),
  /** Objects in both whose newest revision differs. */
  changed: z.number().int().nonnegative(),
  /** Up to 20 example keys (without the `/registry/<type>/` prefix), most recent first. */
  examples: z.array(z.string()),
});
export type KeyTypeDiff = z.infer<typeof KeyTypeDiff>;

export const RevisionSet = z.object({
  count: z.number().int().nonnegative(),
  /** Up to 20 ranges, lowest first. */
  ranges: z.array(z.object({ from: z.number().int(), to: z.number().int() })),
});
export type RevisionSet = z.infer<typeof RevisionSet>;

export const DatabaseSide = z.object({
  label: z.string(),
  currentRevision: z.number().int().nonnegative(),
  compactRevision: z.number().int().nonnegative(),
  rows: z.number().int().nonnegative(),
  /** Keys whose newest row is not a deletion. */
  objects: z.number().int().nonnegative(),
  /** When the candidate was taken (a backup's time), if known. */
  takenAt: z.string().nullable(),
});
export type DatabaseSide = z.infer<typeof DatabaseSide>;

/**
 * What replacing `current` with `candidate` changes. For a restore preview, current = the live
 * database and candidate = the staged backup; for a recovery, current = the recovered database and
 * candidate = the newest good backup.
 */
export const DatabaseDiff = z.object({
  current: DatabaseSide,
  candidate: DatabaseSide,
  revisionsOnlyInCurrent: RevisionSet,
  revisionsOnlyInCandidate: RevisionSet,
  /** Types with any difference, most affected first. */
  byType: z.array(KeyTypeDiff),
  /** Objects the current database has that the candidate lacks or holds older (leases and events excluded). */
  objectsLost: z.number().int().nonnegative(),
  /** e.g. "Restoring loses 15 objects created or changed after 2024-12-18 00:00 UTC: 3 deployments, 12 configmaps." */
  summary: z.string(),
});
export type DatabaseDiff = z.infer<typeof DatabaseDiff>;

/** What the verify step proved about the staged database. */
export const RestoreVerification = z.object({
  integrity: z.object({ ok: z.boolean(), messages: z.array(z.string()) }),
  /** It has kine's table and columns and a revision above 0. */
  looksLikeKine: z.boolean(),
  stats: KineStats.nullable(),
  token: z.object({
    /** Where the token used for the check came from. */
    source: z.enum(["archive", "host", "none"]),
    /** The token decrypts the datastore's bootstrap data (or there is none to decrypt). */
    fits: z.boolean(),
    message: z.string(),
  }),
  /** A live copy's WAL was found in the archive and replayed into the staged database. */
  walReplayed: z.boolean(),
  /** What the staging holds besides the database. */
  staged: z.object({ token: z.boolean(), credFiles: z.number().int().nonnegative(), tlsFiles: z.number().int().nonnegative() }),
  warnings: z.array(z.string()),
});
export type RestoreVerification = z.infer<typeof RestoreVerification>;

export const RestoreStatus = z.enum(["running", "awaiting-confirmation", "succeeded", "failed", "cancelled", "rolling-back", "rolled-back"]);
export type RestoreStatus = z.infer<typeof RestoreStatus>;

/** GET /restores/:id — one restore (or drill), from its on-disk journal. */
export const RestoreRecord = z.object({
  id: z.string(),
  kind: z.enum(["restore", "drill"]),
  createdAt: z.string(),
  updatedAt: z.string(),
  source: RestoreSource,
  /** e.g. "backup set lifeboat-2024-12-18_00-00-00: lifeboat_2024-12-18_00-00-00_state.db.zst.gpg". */
  sourceDescription: z.string(),
  include: RestoreInclude,
  status: RestoreStatus,
  /** The journal's fine-grained phase, e.g. "verified", "swap:moved-aside". */
  phase: z.string(),
  steps: z.array(RestoreStep),
  /** Bytes read from the source while staging (for progress bars after the job is gone). */
  bytesStaged: z.number().int().nonnegative(),
  verification: RestoreVerification.nullable(),
  /** What restoring changes compared with the live database (null when it could not be read). */
  diff: DatabaseDiff.nullable(),
  /** Why there is no diff, when there is none. */
  diffError: z.string().nullable(),
  /** Where the previous database directory was moved (never deleted), once the swap moved it. */
  asideDir: z.string().nullable(),
  /** A point-in-time restore: what was asked, and the base and revision it was staged at. */
  point: RestorePoint.nullable().optional(),
  /** After the restore: the live database's checks. */
  after: z
    .object({
      quickCheck: z.object({ ok: z.boolean(), messages: z.array(z.string()) }),
      ownershipOk: z.boolean(),
      ownershipProblems: z.array(z.string()),
      k3sState: z.string(),
      noStaleWal: z.boolean(),
    })
    .nullable(),
  /** A sentence: what failed and what to do. */
  error: z.string().nullable(),
  /** A sentence: what the target's files are now, e.g. "Nothing on the server changed." */
  targetState: z.string(),
  canConfirm: z.boolean(),
  canCancel: z.boolean(),
  canRollback: z.boolean(),
  canMarkDone: z.boolean(),
  /** The user accepted the restore (POST /restores/:id/done). */
  done: z.boolean(),
  /** The job working on it now (or last). */
  jobId: z.string().nullable(),
});
export type RestoreRecord = z.infer<typeof RestoreRecord>;

export const RestoreList = z.object({ restores: z.array(RestoreRecord) });
export type RestoreList = z.infer<typeof RestoreList>;
