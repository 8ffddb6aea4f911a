import { mkdirSync, openSync, closeSync, readFileSync, rmSync, writeSync } from "node:fs";
import path from "node:path";
import { DomainError } from "../../lib/contracts/errors";
import type { AgentConfig } from "../config";
import { restoresRoot } from "./paths";

/**
 * One process at a time works on the datastore: the agent service and a CLI `restore` must never swap
 * files at once. In-process, the job registry's "datastore" group serialises jobs; across processes
 * this lock file does (`<state>/restores/.lock`, holding the owner's pid, boot and start time). A lock whose process is
 * gone (killed, crashed) is taken over.
 */

/** Another process holds the datastore lock (`datastore_busy`). */
export class DatastoreBusyError extends DomainError {
  constructor(readonly pid: number) {
    super("datastore_busy", `Another Lifeboat process (pid ${pid}) is restoring or rolling back right now; wait for it to finish.`);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Who a process is, beyond its pid: the boot it runs in and its start time (clock ticks since boot,
 * field 22 of /proc/<pid>/stat). A pid alone is reused: after a crash and a reboot the lock file
 * (in the persistent state directory) still names the dead holder's pid, which by then may be any
 * other process, or this very agent. Null where /proc does not tell (then the pid alone is checked).
 */
function identity(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may hold spaces and parentheses itself.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // A zombie (exited, not yet reaped by its parent) holds its pid but will never release a lock.
    if (fields[0] === "Z") return "exited";
    const start = fields[19];
    const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    return /^\d+$/.test(start ?? "") && boot ? `${boot}/${start}` : null;
  } catch {
    return null;
  }
}

/** The lock file's text: the holder's pid, then its identity when known ("<pid> <boot id>/<start time>"). */
function lockText(): string {
  const id = identity(process.pid);
  return id ? `${process.pid} ${id}` : String(process.pid);
}

/** The holder a lock file names, or null when its text is not a lock's (a torn write, junk). */
function holderOf(text: string): { pid: number; id: string | null } | null {
  const m = /^(\d+)(?: (\S+))?\s*$/.exec(text.trim());
  if (!m) return null;
  const pid = Number(m[1]);
  return Number.isSafeInteger(pid) && pid > 0 ? { pid, id: m[2] ?? null } : null;
}

/** True when the process that wrote the lock still runs: its pid is alive and, when the lock says who it was, it is still that process. */
function holderAlive(holder: { pid: number; id: string | null }): boolean {
  if (holder.id === null) return alive(holder.pid);
  const now = identity(holder.pid);
  // /proc gone (or the process with it): fall back to the pid.
  if (now === null) return holder.pid === process.pid ? false : alive(holder.pid);
  return now === holder.id;
}

/**
 * Takes the lock and returns its release. Throws DatastoreBusyError when a live process holds it, or
 * the I/O error when the lock file cannot be written. A lock left by a process that is gone is taken
 * over, also when its pid now belongs to another process (or to this one, after a reboot).
 */
export function acquireDatastoreLock(cfg: Pick<AgentConfig, "stateDir">): () => void {
  const root = restoresRoot(cfg);
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const file = path.join(root, ".lock");
  const mine = lockText();
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, "wx", 0o600);
      writeSync(fd, mine);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(file, "utf8") === mine) rmSync(file, { force: true });
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = holderOf(readFileSync(file, "utf8"));
      if (holder && holderAlive(holder)) throw new DatastoreBusyError(holder.pid);
      rmSync(file, { force: true });
    }
  }
  throw new Error(`Could not take the datastore lock ${file}.`);
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
