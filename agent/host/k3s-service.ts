import { promises as fsp } from "node:fs";
import path from "node:path";
import type { K3sState } from "../../lib/contracts/agent-health";
import { runCommand } from "./run-command";

/**
 * k3s as a service: its state from the configured status command, and the processes that hold the
 * database open. The second is what a restore waits on after the stop command: whatever the service
 * manager says, nothing may have the files open when they are swapped.
 */

/** A process holding the database: its name (/proc/<pid>/comm) and pid, never its command line. */
export interface Holder {
  pid: number;
  name: string;
}

/**
 * `f` with its symlinks resolved, as /proc/<pid>/fd names an open file (a db/ moved to another disk
 * and linked back; a file that does not exist yet, by its directory's real path). Never rejects.
 */
async function realName(f: string): Promise<string> {
  const abs = path.resolve(f);
  return fsp.realpath(abs).catch(() =>
    fsp.realpath(path.dirname(abs)).then(
      (dir) => path.join(dir, path.basename(abs)),
      () => abs,
    ),
  );
}

/** Processes (other than this one) that have any of `files` open, from /proc/<pid>/fd (by the files' paths as given and as resolved). */
export async function processesHolding(files: string[]): Promise<Holder[]> {
  const wanted = new Set([...files.map((f) => path.resolve(f)), ...(await Promise.all(files.map(realName)))]);
  const out: Holder[] = [];
  let pids: string[];
  try {
    pids = (await fsp.readdir("/proc")).filter((n) => /^\d+$/.test(n) && Number(n) !== process.pid);
  } catch {
    return out;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = await fsp.readdir(`/proc/${pid}/fd`);
    } catch {
      continue; // exited, or not ours to look at
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = await fsp.readlink(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (!wanted.has(target.replace(/ \(deleted\)$/, ""))) continue;
      // The name only: a command line can carry secrets (`k3s server --token=…`).
      const name = await fsp.readFile(`/proc/${pid}/comm`, "utf8").catch(() => "");
      out.push({ pid: Number(pid), name: name.trim() || "?" });
      break;
    }
  }
  return out;
}

/** The database and its WAL/SHM: what "holding the database" means. */
export function databaseFiles(dbPath: string): string[] {
  return [dbPath, `${dbPath}-wal`, `${dbPath}-shm`, `${dbPath}-journal`];
}

/** What waitUntilReleased saw: who still holds the files (none when released), who held them at first, and for how long it waited. */
export interface ReleaseWait {
  holders: Holder[];
  firstHolders: Holder[];
  waitedMs: number;
}

/** Polls until no process holds `files` or `timeoutMs` passes. Never rejects. */
export async function waitUntilReleased(files: string[], timeoutMs: number): Promise<ReleaseWait> {
  const started = Date.now();
  let firstHolders: ReleaseWait["firstHolders"] | null = null;
  for (;;) {
    const holders = await processesHolding(files);
    firstHolders ??= holders;
    if (holders.length === 0 || Date.now() - started >= timeoutMs) return { holders, firstHolders, waitedMs: Date.now() - started };
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** k3s's service state from LIFEBOAT_K3S_STATUS_CMD, plus who holds the database now. */
export async function k3sState(statusCmd: string, dbPath: string): Promise<K3sState> {
  const [res, dbHolders] = await Promise.all([runCommand(statusCmd, 15_000), processesHolding(databaseFiles(dbPath))]);
  const first = res.stdout.split("\n")[0]?.trim() ?? "";
  const state = res.code === null || res.timedOut ? "unknown" : first || (res.code === 0 ? "active" : "unknown");
  // systemctl prints "inactive" for units it does not know, but says so on stderr or via LoadState.
  const missing = /could not be found|not-found|no such file|not found/i.test(res.stderr) || res.code === 127;
  return {
    command: statusCmd,
    state: missing ? "not-found" : state,
    running: !missing && (state === "active" || state === "reloading" || (res.code === 0 && state !== "inactive" && state !== "failed")),
    present: !missing,
    dbHolders,
  };
}
