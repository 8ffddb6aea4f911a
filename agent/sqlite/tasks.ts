import type { KineSoundness } from "../../lib/contracts/agent-recovery";
import type { DatabaseDiff } from "../../lib/contracts/agent-restore";
import { checkSnapshot, copyDatabase, SnapshotError, type CheckedSnapshot, type SnapshotFailure, type SnapshotMethod } from "../backup/snapshot";
import type { LogAheadResult, LogAheadStep } from "../continuous/ahead-session";
import type { LogApplyPosition, LogApplyStep } from "../continuous/apply-session";
import type { FileChecks } from "../health/check";
import type { KineDoubts } from "../recovery/kine-soundness";
import type { S2kParams } from "../archive/openpgp-native";
import type { diffKineDatabases } from "../restore/diff";
import type { StagedInspection } from "../restore/stage-inspect";
import { checkFile, type CheckOutcome, type IntegrityPragma } from "./check";

/**
 * What the SQLite worker thread (./worker.ts) runs: one task per worker. Defined once here and
 * run either on the worker or, when no worker can start, on the calling thread. Every task is
 * synchronous SQLite work that takes long on a large database; on the agent's main thread it would
 * stop the HTTP service (/livez, progress polls) for that long.
 */
export type SqliteTask =
  /** integrity_check or quick_check of a file (a staged backup, the live database after a restore); never fails, see checkFile. */
  | { kind: "check"; file: string; pragma: IntegrityPragma; limit: number; mmapBytes?: number; busyTimeoutMs?: number }
  /** The health check's reads of a copy of the live database (healthFileChecks); never fails. */
  | { kind: "health"; file: string; full: boolean; withStats: boolean }
  /** integrity_check and kine statistics of a snapshot (checkSnapshot); fails with SnapshotError. */
  | { kind: "snapshot"; snapshotPath: string; sourcePath: string }
  /** The copy of a live database (copyDatabase); resolves with its milliseconds, fails with SnapshotError. */
  | { kind: "copy"; dbPath: string; dest: string; method: SnapshotMethod }
  /** A staged database made one self-contained file (settleDatabase); resolves with whether a WAL was replayed. */
  | { kind: "settle"; dbPath: string; durable: boolean }
  /** kine's shape, statistics and the token's fit of a staged database (inspectStaged); never fails. */
  | { kind: "inspect"; dbPath: string; token: string | null }
  /** What replacing one kine database with another loses (diffKineDatabases). */
  | {
      kind: "diff";
      currentFile: string;
      candidateFile: string;
      opts: Omit<Parameters<typeof diffKineDatabases>[2], "candidateTakenAt"> & { candidateTakenAt: string | null };
    }
  /** The kine check of a recovery's result (auditKineRows); null without a kine table; fails with SQLite's error. */
  | { kind: "kine-audit"; file: string; doubts: KineDoubts; repair: boolean }
  /** One step of a log apply (agent/continuous/apply-session.ts): the staged database held open between steps. */
  | { kind: "log-apply"; step: LogApplyStep }
  /** One step of applying the log ahead, to a scratch database, while the base is staged (agent/continuous/ahead-session.ts). */
  | { kind: "log-ahead"; step: LogAheadStep }
  /**
   * Not SQLite's: the log's passphrase key for the run applied ahead, derived on its scratch's worker
   * while that waits for its first text (apply-ahead.ts), instead of on the thread staging the base.
   */
  | { kind: "s2k"; s2k: S2kParams; passphrase: Uint8Array; keyLen: number };

interface TaskResults {
  check: CheckOutcome;
  health: FileChecks;
  snapshot: CheckedSnapshot;
  copy: number;
  settle: boolean;
  inspect: StagedInspection;
  diff: DatabaseDiff;
  "kine-audit": KineSoundness | null;
  "log-apply": LogApplyPosition | null;
  "log-ahead": LogAheadResult;
  s2k: Uint8Array;
}

export type SqliteTaskResult<T extends SqliteTask> = TaskResults[T["kind"]];

/** An error as it crosses from the worker to the caller (structured clone keeps no class). */
export interface TaskError {
  message: string;
  snapshotFailure?: SnapshotFailure;
  /** SQLite's extended result code (better-sqlite3's `code`, e.g. SQLITE_FULL), which tells a full disk from a refused row. */
  sqliteCode?: string;
}

/** Runs one task on this thread. Rejects with what the task throws (SnapshotError for "snapshot" and "copy", SQLite's errors for "kine-audit"). */
export async function runSqliteTask<T extends SqliteTask>(task: T): Promise<SqliteTaskResult<T>> {
  const results = (t: SqliteTask): unknown => {
    switch (t.kind) {
      case "check":
        return checkFile(t.file, t.pragma, { limit: t.limit, mmapBytes: t.mmapBytes, busyTimeoutMs: t.busyTimeoutMs });
      case "health":
        return import("../health/check").then((m) => m.healthFileChecks(t.file, t.full, t.withStats));
      case "snapshot":
        return checkSnapshot(t.snapshotPath, t.sourcePath);
      case "copy":
        return copyDatabase(t.dbPath, t.dest, t.method);
      // The rest are loaded when asked for: a worker starts faster with less to load.
      case "settle":
        return import("../restore/stage-settle").then((m) => m.settleDatabase(t.dbPath, t.durable));
      case "inspect":
        return import("../restore/stage-inspect").then((m) => m.inspectStaged(t.dbPath, t.token));
      case "diff":
        return import("../restore/diff").then((m) =>
          m.diffKineDatabases(t.currentFile, t.candidateFile, {
            ...t.opts,
            candidateTakenAt: t.opts.candidateTakenAt ? new Date(t.opts.candidateTakenAt) : null,
          }),
        );
      case "kine-audit":
        return import("../recovery/kine-soundness").then((m) => m.auditKineRows(t.file, { doubts: t.doubts, repair: t.repair }));
      case "log-apply":
        return import("../continuous/apply-session").then((m) => m.runLogApplyStep(t.step));
      case "log-ahead":
        return import("../continuous/ahead-session").then((m) => m.runLogAheadStep(t.step));
      case "s2k":
        return import("../archive/openpgp-native").then((m) =>
          m.deriveS2kKey({ ...t.s2k, salt: Buffer.from(t.s2k.salt) }, Buffer.from(t.passphrase), t.keyLen),
        );
    }
  };
  return (await results(task)) as SqliteTaskResult<T>;
}

/** The worker's side of an error. Never throws. */
export function toTaskError(err: unknown): TaskError {
  const message = (err as Error)?.message ?? String(err);
  if (err instanceof SnapshotError) return { message, snapshotFailure: err.failure };
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" && code.startsWith("SQLITE_") ? { message, sqliteCode: code } : { message };
}

/** The caller's side: the same class the task threw (SnapshotError), else a plain Error (with SQLite's `code` when it had one). Never throws. */
export function fromTaskError(e: TaskError): Error {
  if (e.snapshotFailure) return new SnapshotError(e.message, e.snapshotFailure);
  const err = new Error(e.message);
  if (e.sqliteCode) (err as Error & { code?: string }).code = e.sqliteCode;
  return err;
}
