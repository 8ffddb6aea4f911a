import { closeSync, linkSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";

/**
 * A process named by more than its pid. A pid file or a lock file outlives its process (a crash, a
 * reboot: it lives on disk), and its pid is reused: by then it may name any other process, or the
 * one reading the file. Trusting the pid alone, a stale lock refused the agent's own restore, and a
 * stale pid file would have been signalled to stop an unrelated process. So the file also holds the
 * process's identity: the boot it ran in (/proc/sys/kernel/random/boot_id) and its start time
 * (clock ticks since boot, field 22 of /proc/<pid>/stat), which no other process shares.
 *
 * The file's text: the pid on the first line (as any pid file, for `kill $(head -n1 file)`), the
 * identity on the second when /proc gives one. A file with a pid alone (older files, or no /proc) is
 * checked by its pid, as before.
 */

/** This boot's id: the same for every process of this boot, read once. */
let bootId: string | undefined;

/** "<boot id>/<start time>" of a running process; "exited" for a zombie (exited, not yet reaped); null when /proc does not tell (gone, or no /proc). */
export function processIdentity(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may hold spaces and parentheses itself.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // A zombie keeps its pid but runs no more: it will never release a lock or answer a signal.
    if (fields[0] === "Z") return "exited";
    const start = fields[19];
    const boot = (bootId ??= readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim());
    return /^\d+$/.test(start ?? "") && boot ? `${boot}/${start}` : null;
  } catch {
    return null;
  }
}

/** The text a pid or lock file holds for `pid` (this process by default). */
export function pidRecord(pid: number = process.pid): string {
  const id = processIdentity(pid);
  return id && id !== "exited" ? `${pid}\n${id}\n` : `${pid}\n`;
}

export interface PidRecord {
  pid: number;
  /** Null: the file gave the pid alone. */
  id: string | null;
}

/** What a pid file's text names; null when it names nothing (empty, a torn write, junk). */
export function parsePidRecord(text: string): PidRecord | null {
  const m = /^\s*(\d+)\s*(?:\n\s*(\S+)\s*)?$/.exec(text);
  if (!m) return null;
  const pid = Number(m[1]);
  return Number.isSafeInteger(pid) && pid > 0 ? { pid, id: m[2] ?? null } : null;
}

/** Whether `pid` runs (a zombie does not). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  return processIdentity(pid) !== "exited";
}

/** Whether the process a record names still runs: its pid is alive and, when the record says who it was, it is still that process. */
export function recordedProcessAlive(rec: PidRecord): boolean {
  if (rec.id === null) return pidAlive(rec.pid);
  const now = processIdentity(rec.pid);
  // Gone, or no /proc to tell: the pid alone decides (never this process: the record is not its own).
  if (now === null) return rec.pid !== process.pid && pidAlive(rec.pid);
  return now === rec.id;
}

/**
 * Takes the lock file `file` (linked into place whole, holding this process's record): resolves with its
 * release, or with the pid of the live process that holds it. A lock whose process is gone (killed,
 * crashed, its pid reused since, or this very pid in an earlier boot) is taken over. Throws the I/O
 * error when the file cannot be written.
 *
 * Taking a stale lock over is itself serialised by `<file>.takeover` (O_EXCL too): two processes that
 * both found it stale would otherwise each remove "the stale file", the later one removing the lock
 * the first had just made, and both would hold it. Under the takeover lock the file is read again
 * and removed only while it still holds the stale record. A takeover lock left by a process killed
 * in those few microseconds is removed once it is 10 s old.
 */
export function takeLockFile(file: string): { release: () => void } | { holder: number } {
  const mine = pidRecord();
  const takeover = `${file}.takeover`;
  for (let attempt = 0; attempt < 500; attempt++) {
    try {
      // Made whole, then linked into place: a racer never reads it empty (as a torn, stale one).
      const tmp = `${file}.${process.pid}.tmp`;
      const fd = openSync(tmp, "w", 0o600);
      writeSync(fd, mine);
      closeSync(fd);
      try {
        linkSync(tmp, file);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw err;
        // A filesystem without hard links: made in place, as before.
        const fd2 = openSync(file, "wx", 0o600);
        writeSync(fd2, mine);
        closeSync(fd2);
      } finally {
        rmSync(tmp, { force: true });
      }
      return {
        release: () => {
          try {
            if (readFileSync(file, "utf8") === mine) rmSync(file, { force: true });
          } catch {
            // already gone
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const stale = readIfThere(file);
    if (stale === null) continue; // released meanwhile
    const holder = parsePidRecord(stale);
    if (holder && recordedProcessAlive(holder)) return { holder: holder.pid };
    try {
      closeSync(openSync(takeover, "wx", 0o600));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      // Another process is taking it over: wait a moment (or clear a takeover its process left).
      try {
        if (Date.now() - statSync(takeover).mtimeMs > 10_000) rmSync(takeover, { force: true });
      } catch {
        // gone meanwhile
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
      continue;
    }
    try {
      if (readIfThere(file) === stale) rmSync(file, { force: true });
    } finally {
      rmSync(takeover, { force: true });
    }
  }
  throw new Error(`Could not take the lock ${file}.`);
}

/** A file's text, or null when it does not exist. */
function readIfThere(file: string): string | null {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}
