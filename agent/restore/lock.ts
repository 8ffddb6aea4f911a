import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { DomainError } from "../../lib/contracts/errors";
import { parsePidRecord, recordedProcessAlive, takeLockFile } from "../../lib/storage/pid-record";
import type { AgentConfig } from "../config";
import { restoresRoot } from "./paths";

/**
 * One process at a time works on the datastore: the agent service and a CLI `restore` must never swap
 * files at once. In-process, the job registry's "datastore" group serialises jobs; across processes
 * this lock file does (`<state>/restores/.lock`, holding the owner's pid, boot and start time: lib/storage/pid-record.ts).
 * A recovery holds it while it copies the live files (agent/recovery/ladder.ts), so it never copies
 * a database a restore is swapping. A lock whose process is gone (killed, crashed, its pid reused
 * since) is taken over.
 */

/** Another process holds the datastore lock (`datastore_busy`). */
export class DatastoreBusyError extends DomainError {
  constructor(readonly pid: number) {
    super(
      "datastore_busy",
      `Another Lifeboat process (pid ${pid}) is working on the datastore right now (a restore, rollback, restore drill or recovery); wait for it to finish.`,
    );
  }
}

/**
 * Takes the lock and returns its release. Throws DatastoreBusyError when a live process holds it, or
 * the I/O error when the lock file cannot be written. A lock left by a process that is gone is taken
 * over, also when its pid now belongs to another process (or to this one, after a reboot).
 */
export function acquireDatastoreLock(cfg: Pick<AgentConfig, "stateDir">): () => void {
  const root = restoresRoot(cfg);
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const got = takeLockFile(path.join(root, ".lock"));
  if ("holder" in got) throw new DatastoreBusyError(got.holder);
  return got.release;
}

/**
 * The pid of the live process holding the datastore lock (a restore, drill, rollback or recovery at
 * work, in this process or another), or null. Takes nothing; never throws.
 */
export function datastoreLockHolder(cfg: Pick<AgentConfig, "stateDir">): number | null {
  try {
    const holder = parsePidRecord(readFileSync(path.join(restoresRoot(cfg), ".lock"), "utf8"));
    return holder && recordedProcessAlive(holder) ? holder.pid : null;
  } catch {
    return null;
  }
}

/**
 * A test hook for the crash-safety tests: when LIFEBOAT_TEST_CRASH_AT names this point, the process
 * kills itself with SIGKILL right here (no cleanup, no flush), as a power loss would.
 */
export function crashPoint(name: string): void {
  if (process.env.LIFEBOAT_TEST_CRASH_AT !== name) return;
  process.kill(process.pid, "SIGKILL");
  // Never run another instruction of the caller while the signal lands.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}
