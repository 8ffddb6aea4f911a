import type { KineSoundness } from "../../lib/contracts/agent-recovery";
import { checkSnapshot, SnapshotError, type CheckedSnapshot, type SnapshotFailure } from "../backup/snapshot";
import { auditKineRows, type KineDoubts } from "../recovery/kine-soundness";
import { checkFile, type CheckOutcome, type IntegrityPragma } from "./check";

/**
 * What the SQLite worker thread (./worker.ts) runs: one task per worker. Defined once here and
 * run either on the worker or, when no worker can start, on the calling thread.
 */
export type SqliteTask =
  /** integrity_check or quick_check of a file (a staged backup); never fails, see checkFile. */
  | { kind: "check"; file: string; pragma: IntegrityPragma; limit: number; mmapBytes?: number }
  /** integrity_check and kine statistics of a snapshot (checkSnapshot); fails with SnapshotError. */
  | { kind: "snapshot"; snapshotPath: string; sourcePath: string }
  /** The kine check of a recovery's result (auditKineRows); null without a kine table; fails with SQLite's error. */
  | { kind: "kine-audit"; file: string; doubts: KineDoubts; repair: boolean };

export type SqliteTaskResult<T extends SqliteTask> = T extends { kind: "check" }
  ? CheckOutcome
  : T extends { kind: "kine-audit" }
    ? KineSoundness | null
    : CheckedSnapshot;

/** An error as it crosses from the worker to the caller (structured clone keeps no class). */
export interface TaskError {
  message: string;
  snapshotFailure?: SnapshotFailure;
}

/** Runs one task on this thread. Throws what the task throws (SnapshotError for "snapshot", SQLite's errors for "kine-audit"). */
export function runSqliteTask<T extends SqliteTask>(task: T): SqliteTaskResult<T> {
  if (task.kind === "check") return checkFile(task.file, task.pragma, { limit: task.limit, mmapBytes: task.mmapBytes }) as SqliteTaskResult<T>;
  if (task.kind === "kine-audit") return auditKineRows(task.file, { doubts: task.doubts, repair: task.repair }) as SqliteTaskResult<T>;
  return checkSnapshot(task.snapshotPath, task.sourcePath) as SqliteTaskResult<T>;
}

/** The worker's side of an error. Never throws. */
export function toTaskError(err: unknown): TaskError {
  const message = (err as Error)?.message ?? String(err);
  return err instanceof SnapshotError ? { message, snapshotFailure: err.failure } : { message };
}

/** The caller's side: the same class the task threw (SnapshotError), else a plain Error. Never throws. */
export function fromTaskError(e: TaskError): Error {
  return e.snapshotFailure ? new SnapshotError(e.message, e.snapshotFailure) : new Error(e.message);
}
