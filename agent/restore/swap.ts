import { existsSync, lstatSync, realpathSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import type { AgentConfig } from "../config";
import { fsyncPath } from "../../lib/storage/durable-file";
import { applyOwnership, DIR_MODE, FILE_MODE } from "../host/ownership";
import { type ExtraName, type RestoreJournal, saveJournal } from "./journal";
import { crashPoint } from "./lock";

/**
 * The file moves of a restore and of its rollback. Every move is a rename on one filesystem
 * (atomic), followed by an fsync of the directory, and each function looks at the files rather than
 * trusting the journal alone: run again after a crash at any point, it finishes the job without
 * moving anything twice. The previous database directory is only ever renamed, never deleted.
 */

const exists = (p: string) => {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
};

function rename(from: string, to: string): void {
  renameSync(from, to);
  fsyncPath(path.dirname(to));
  if (path.dirname(from) !== path.dirname(to)) fsyncPath(path.dirname(from));
}

/** `<serverDir>/<name>.<what>-<stamp>`, with a suffix when a file of that name already exists. */
export function asidePath(serverDir: string, name: string, what: "before-restore" | "rolled-back", stamp: string): string {
  let p = path.join(serverDir, `${name}.${what}-${stamp}`);
  for (let i = 2; exists(p); i++) p = path.join(serverDir, `${name}.${what}-${stamp}-${i}`);
  return p;
}

/**
 * Moves the staged files into place (see the module comment): db/ aside to `j.asideDir`, staged db/
 * in, stale -wal/-shm removed, then token/cred/tls (those in `j.extras`) the same way. Updates and
 * saves the journal as it goes. Throws when the files are in a state no interrupted swap can leave.
 */
export function completeSwap(cfg: AgentConfig, j: RestoreJournal): { removedStale: string[] } {
  const server = cfg.serverDir;
  const dbDir = path.join(server, "db");
  const staged = path.join(j.stagingDir, "db");
  const advance = (phase: RestoreJournal["phase"], note?: string) => {
    j.phase = phase;
    j.history.push({ at: new Date().toISOString(), phase, note });
    saveJournal(cfg, j);
  };

  if (j.asideDir && exists(dbDir) && !exists(j.asideDir) && exists(staged)) {
    rename(dbDir, j.asideDir);
    crashPoint("swap:moved-aside");
  }
  if (j.phase === "swap:begin") advance("swap:moved-aside", j.asideDir ? `previous db/ moved to ${j.asideDir}` : "there was no db/ to move aside");

  if (exists(staged)) {
    if (exists(dbDir))
      throw new Error(
        `Both ${dbDir} and the staged ${staged} exist: something recreated db/ during the swap (is k3s running?). Stop k3s and run the agent again; it finishes the swap.`,
      );
    rename(staged, dbDir);
    crashPoint("swap:moved-in");
  } else if (!exists(dbDir)) {
    throw new Error(`Neither ${dbDir} nor the staged ${staged} exists; the staged database is gone. The previous database is in ${j.asideDir}: roll back.`);
  }
  if (j.phase === "swap:moved-aside") advance("swap:moved-in");

  // A WAL left from another database would be replayed into the restored one and corrupt it.
  const removedStale: string[] = [];
  for (const suffix of ["-wal", "-shm", "-journal"]) {
    const f = path.join(dbDir, `state.db${suffix}`);
    if (exists(f)) {
      rmSync(f, { force: true });
      removedStale.push(f);
    }
  }
  if (removedStale.length) fsyncPath(dbDir);

  for (const name of j.extras) {
    const stagedX = path.join(j.stagingDir, name);
    const target = path.join(server, name);
    const aside = j.extraAsides[name] ?? asidePath(server, name, "before-restore", j.swapStamp!);
    if (!j.extraAsides[name]) {
      j.extraAsides[name] = aside;
      saveJournal(cfg, j);
    }
    if (!exists(stagedX)) continue; // moved in before an interruption
    if (exists(target) && !exists(aside)) {
      rename(target, aside);
      crashPoint(`swap:${name}-aside`); // the host's moved aside, the restored one not yet in
    }
    if (exists(target)) throw new Error(`${target} appeared during the swap; stop whatever writes it and run the agent again.`);
    rename(stagedX, target);
  }
  crashPoint("swap:files-placed");
  advance("swapped");
  return { removedStale };
}

/**
 * Owner and mode of what a restore or rollback put in place: db/ (0700/0600), token, and cred/ tls/
 * when restored. A db/ that is a symlink (a rollback put back a datastore moved to another disk and
 * linked back) is followed once: its target is the directory k3s uses; the link stays as it is.
 */
export async function fixOwnership(cfg: AgentConfig, extras: ExtraName[]): Promise<number> {
  const dbDir = path.join(cfg.serverDir, "db");
  let n = await applyOwnership(lstatSync(dbDir, { throwIfNoEntry: false })?.isSymbolicLink() ? realpathSync(dbDir) : dbDir, cfg.owner);
  const targets = new Set<ExtraName>(["token", ...extras]);
  for (const name of targets) {
    const p = path.join(cfg.serverDir, name);
    if (existsSync(p)) n += await applyOwnership(p, cfg.owner, { file: FILE_MODE, dir: DIR_MODE });
  }
  return n;
}

/**
 * Puts the moved-aside database (and token/cred/tls) back; the restored ones are renamed to
 * `*.rolled-back-<stamp>`, never deleted. Idempotent like completeSwap.
 */
export function completeRollbackMoves(cfg: AgentConfig, j: RestoreJournal): void {
  const rb = j.rollback!;
  const server = cfg.serverDir;
  const dbDir = path.join(server, "db");
  if (!j.asideDir) throw new Error("This restore moved no previous database aside, so there is nothing to roll back to.");
  if (exists(j.asideDir)) {
    if (exists(dbDir) && !exists(rb.restoredAside)) rename(dbDir, rb.restoredAside);
    crashPoint("rollback:moved-restored-aside");
    if (exists(dbDir)) throw new Error(`${dbDir} exists although the restored database was moved to ${rb.restoredAside}; stop k3s and run the rollback again.`);
    rename(j.asideDir, dbDir);
  } else if (!exists(dbDir)) {
    throw new Error(`The previous database ${j.asideDir} is not there any more, and neither is ${dbDir}.`);
  }
  for (const [name, aside] of Object.entries(j.extraAsides) as [ExtraName, string][]) {
    const target = path.join(server, name);
    const rolled = rb.extraRolled[name] ?? asidePath(server, name, "rolled-back", rb.stamp);
    if (!rb.extraRolled[name]) {
      rb.extraRolled[name] = rolled;
      saveJournal(cfg, j);
    }
    if (!exists(aside)) continue;
    if (exists(target) && !exists(rolled)) {
      rename(target, rolled);
      crashPoint(`rollback:${name}-aside`); // the restored one moved aside, the previous one not yet back
    }
    if (exists(target)) throw new Error(`${target} exists although the restored one was moved to ${rolled}; run the rollback again.`);
    rename(aside, target);
  }
}
