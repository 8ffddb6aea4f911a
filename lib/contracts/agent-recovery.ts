import { z } from "zod";
import { DatabaseDiff, RestoreSource } from "./agent-restore";

/**
 * The agent's recovery ladder (issue 4), shared by the agent's router and the dashboard's AgentClient.
 * Always works on copies in LIFEBOAT_STATE_DIR, never on the live files.
 *
 *   POST /recoveries       StartRecoveryRequest → 202 RecoveryStarted | 409 JobConflict (job type "recovery"; result RecoveryReport)
 *   GET  /recoveries       → RecoveryList (newest first)
 *   GET  /recoveries/:id   → RecoveryReport
 *
 * The best result is a restore candidate: POST /restores with source { kind: "recovery", id }.
 */

/** POST /recoveries. */
export const StartRecoveryRequest = z.strictObject({
  /** A database file to recover instead of the live one (a copy someone saved, say). */
  path: z.string().optional(),
  /**
   * What to compare the best result with: "newest" (default) = the newest Lifeboat set whose manifest
   * says it passed integrity_check, else the newest seed set; a source; or "none".
   */
  compareWith: z.union([z.literal("newest"), z.literal("none"), RestoreSource]).default("newest"),
});
export type StartRecoveryRequest = z.infer<typeof StartRecoveryRequest>;
export type StartRecoveryInput = z.input<typeof StartRecoveryRequest>;

/** 202 answer of POST /recoveries. */
export const RecoveryStarted = z.object({ recoveryId: z.string(), jobId: z.string() });
export type RecoveryStarted = z.infer<typeof RecoveryStarted>;

export const RecoveryRungName = z.enum(["copy", "integrity", "dump", "recover", "salvage", "kine-check", "compare"]);
export type RecoveryRungName = z.infer<typeof RecoveryRungName>;

/** The rungs of the ladder in order, with their labels (the recovery job's steps). */
export const RECOVERY_STEPS = [
  { name: "copy", label: "Copy" },
  { name: "integrity", label: "integrity_check" },
  { name: "dump", label: ".dump" },
  { name: "recover", label: ".recover" },
  { name: "salvage", label: "Lifeboat salvage" },
  { name: "kine-check", label: "Check rows against kine's copies" },
  { name: "compare", label: "Compare with backup" },
] as const satisfies readonly { name: RecoveryRungName; label: string }[];

/** A row the kine check dropped or repaired, by its key and revision (kine's id). */
export const KineRowRef = z.object({ key: z.string(), revision: z.number().int() });

/**
 * Every row of a rung's result checked against the copies kine keeps of it elsewhere
 * (agent/recovery/kine-soundness.ts): a row's value is stored again as the old_value of the row that
 * replaced it, and its old_value is its predecessor's value; create_revision and prev_revision chain
 * the rows of a key. Rows that disagree are repaired from their intact copy, or dropped.
 */
export const KineSoundness = z.object({
  /** Rows looked at (before any was dropped). */
  checked: z.number().int().nonnegative(),
  /** Rows whose every copy elsewhere agrees with them. */
  confirmed: z.number().int().nonnegative(),
  /** Rows kept with nothing to compare a column with (the newest revision of a key has no successor to copy its value). */
  unverifiable: z.number().int().nonnegative(),
  /** Rows whose damaged value or old_value was put back from its intact copy (byte for byte). */
  repaired: z.number().int().nonnegative(),
  /** Rows removed: damaged with no intact copy, disagreeing with no way to tell which copy is right, a broken chain, or compacted. */
  dropped: z.number().int().nonnegative(),
  repairedRows: z.array(KineRowRef.extend({ columns: z.array(z.enum(["value", "old_value"])), from: z.number().int() })),
  droppedRows: z.array(KineRowRef.extend({ reason: z.string() })),
  /** The two lists hold at most 200 rows each. */
  truncated: z.boolean(),
});
export type KineSoundness = z.infer<typeof KineSoundness>;

/** One rung of the ladder and what it produced. */
export const RecoveryRung = z.object({
  name: RecoveryRungName,
  label: z.string(),
  /** ok: produced a database that passes integrity_check; partial: produced one, but rows are missing or errors were skipped. */
  state: z.enum(["ok", "partial", "failed", "skipped"]),
  /** Why it did not run (e.g. "sqlite3 3.40.1's .recover is broken on this host: …"). */
  skippedReason: z.string().nullable(),
  error: z.string().nullable(),
  rows: z.number().int().nonnegative().nullable(),
  revisions: z.object({ min: z.number().int(), max: z.number().int() }).nullable(),
  /** integrity_check of what the rung produced: "ok" or SQLite's first complaints. */
  integrity: z.string().nullable(),
  /** The database the rung produced (in the recovery's directory). */
  output: z.string().nullable(),
  /** More, in words (e.g. "the WAL next to state.db belongs to another database; checked without it"). */
  note: z.string().nullable(),
  /** The kine check of what the rung produced (rows above are after it); null when it did not run. */
  soundness: KineSoundness.nullable().default(null),
  millis: z.number().nonnegative(),
});
export type RecoveryRung = z.infer<typeof RecoveryRung>;

/** Lifeboat's page-level salvage, in detail (agent/recovery/salvage.ts). */
export const SalvageDetails = z.object({
  fileSize: z.number().int().nonnegative(),
  pageSize: z.number().int().positive(),
  pageSizeSource: z.enum(["header", "detected"]),
  pagesScanned: z.number().int().nonnegative(),
  headerIntact: z.boolean(),
  kineTree: z.object({
    rootPage: z.number().int().nullable(),
    rootSource: z.enum(["schema", "guessed", "none"]),
    complete: z.boolean(),
    interiorPages: z.number().int(),
  }),
  freelist: z.object({ source: z.enum(["header", "detected", "header+detected", "none"]), pages: z.number().int() }),
  leafPages: z.object({ total: z.number().int(), reachable: z.number().int(), orphan: z.number().int(), free: z.number().int() }),
  rowsFound: z.number().int(),
  rowsKept: z.number().int(),
  /** Rows kept although part of their value or old_value sat on a damaged page: the kine check repairs them from kine's copies, or drops them. */
  damagedRows: z.number().int().default(0),
  dropped: z.object({
    incomplete: z.number().int(),
    duplicates: z.number().int(),
    onFreePages: z.number().int(),
    outsideTree: z.number().int(),
    compacted: z.number().int(),
    conflicts: z.number().int(),
  }),
  revisions: z.object({ min: z.number().int(), max: z.number().int() }).nullable(),
  compactRevision: z.number().int().nullable(),
  scanMillis: z.number().nonnegative(),
  writeMillis: z.number().nonnegative(),
});
export type SalvageDetails = z.infer<typeof SalvageDetails>;

/** GET /recoveries/:id, and the result of a recovery job. */
export const RecoveryReport = z.object({
  id: z.string(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
  /** The file recovered (the live database unless a path was given). */
  sourcePath: z.string(),
  /** The WAL next to it: whether it was there, and whether it belongs to this database. */
  wal: z.object({ present: z.boolean(), bytes: z.number().int().nonnegative(), foreign: z.boolean().nullable(), note: z.string().nullable() }),
  rungs: z.array(RecoveryRung),
  salvage: SalvageDetails.nullable(),
  /** The rung whose database is the candidate: passes integrity_check and has the most sound rows (after the kine check). */
  best: z
    .object({
      rung: RecoveryRungName,
      path: z.string(),
      rows: z.number().int(),
      revisions: z.object({ min: z.number().int(), max: z.number().int() }).nullable(),
    })
    .nullable(),
  comparison: z.object({
    /** The backup compared with, e.g. "lifeboat-2024-12-18_00-00-00 (lifeboat_…_state.db.zst.gpg)". */
    backup: z.string().nullable(),
    backupTakenAt: z.string().nullable(),
    /** current = the best recovered database, candidate = the backup. */
    diff: DatabaseDiff.nullable(),
    error: z.string().nullable(),
  }),
  /** What to do, in words. */
  recommendation: z.string(),
  error: z.string().nullable(),
});
export type RecoveryReport = z.infer<typeof RecoveryReport>;

export const RecoveryList = z.object({ recoveries: z.array(RecoveryReport) });
export type RecoveryList = z.infer<typeof RecoveryList>;
