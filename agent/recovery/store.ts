import { promises as fsp, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { RecoveryReport } from "../../lib/contracts/agent-recovery";
import { DomainError } from "../../lib/contracts/errors";
import { writeFileDurable } from "../../lib/storage/durable-file";
import { parsePidRecord, pidRecord, recordedProcessAlive } from "../../lib/storage/pid-record";
import type { AgentConfig } from "../config";

/**
 * Recovery attempts on disk: `<LIFEBOAT_STATE_DIR>/recoveries/<id>/` holds `report.json` and the
 * databases the rungs produced (the results); the copies they worked on are removed when the ladder
 * ends, and everything but the report when it fails. While the ladder runs, `owner.pid` names its
 * process: a report left unfinished by a process that is gone (killed, crashed) reads as failed,
 * never as a result. Starting a recovery keeps the newest RECOVERIES_KEPT (itself included) and
 * removes older ones.
 */

/** Recoveries kept on disk, the one starting included: older ones are removed when a recovery starts. */
export const RECOVERIES_KEPT = 3;

const OWNER_FILE = "owner.pid";
const REPORT_FILE = "report.json";

export function recoveriesRoot(cfg: Pick<AgentConfig, "stateDir">): string {
  return path.join(cfg.stateDir, "recoveries");
}

/** The directory of recovery `id`. Throws RecoveryNotFoundError when `id` cannot be one. */
export function recoveryDir(cfg: Pick<AgentConfig, "stateDir">, id: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(id) || id.startsWith(".")) throw new RecoveryNotFoundError(id);
  return path.join(recoveriesRoot(cfg), id);
}

/** There is no recovery with this id (`not_found`). */
export class RecoveryNotFoundError extends DomainError {
  constructor(id: string) {
    super("not_found", `There is no recovery ${id} on this agent (see GET /recoveries or \`lifeboat-agent recover --list\`).`);
  }
}

/** Writes the report atomically and durably. Throws on I/O errors. */
export function saveReport(cfg: Pick<AgentConfig, "stateDir">, report: RecoveryReport): void {
  writeFileDurable(path.join(recoveryDir(cfg, report.id), REPORT_FILE), JSON.stringify(report, null, 2));
}

/** Marks `dir` as this process's running recovery. Throws on I/O errors. */
export function claimRecovery(dir: string): void {
  writeFileSync(path.join(dir, OWNER_FILE), pidRecord(), { mode: 0o600 });
}

/** The ladder is over (finished or failed): its report is final. Never throws. */
export function releaseRecovery(dir: string): void {
  rmSync(path.join(dir, OWNER_FILE), { force: true });
}

/** Whether a live process runs the ladder of `dir`. */
function runningIn(dir: string): boolean {
  try {
    const rec = parsePidRecord(readFileSync(path.join(dir, OWNER_FILE), "utf8"));
    return rec !== null && recordedProcessAlive(rec);
  } catch {
    return false;
  }
}

const STOPPED =
  "The recovery stopped before it finished (its process was killed, or crashed); what it left is not a result. Run it again, or restore the newest good backup.";

/** A report as read: one left unfinished by a process that is gone is failed, without a result. */
function asRead(dir: string, report: RecoveryReport): RecoveryReport {
  if (report.finishedAt !== null || runningIn(dir)) return report;
  return {
    ...report,
    best: null,
    rungs: report.rungs.map((r) => ({ ...r, output: null })),
    error: report.error ?? STOPPED,
    recommendation: report.error ?? STOPPED,
  };
}

function readReport(dir: string): RecoveryReport {
  return JSON.parse(readFileSync(path.join(dir, REPORT_FILE), "utf8")) as RecoveryReport;
}

/** One report; throws RecoveryNotFoundError. */
export function loadReport(cfg: Pick<AgentConfig, "stateDir">, id: string): RecoveryReport {
  const dir = recoveryDir(cfg, id);
  let report: RecoveryReport;
  try {
    report = readReport(dir);
  } catch {
    throw new RecoveryNotFoundError(id);
  }
  return asRead(dir, report);
}

/** Every report, newest first. */
export async function listReports(cfg: Pick<AgentConfig, "stateDir">): Promise<RecoveryReport[]> {
  const out: RecoveryReport[] = [];
  for (const name of await fsp.readdir(recoveriesRoot(cfg)).catch(() => [] as string[])) {
    try {
      out.push(loadReport(cfg, name));
    } catch {
      // not a recovery (no report yet, or not ours)
    }
  }
  return out.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

/**
 * Before a recovery starts (under the datastore lock, so no restore reads a recovery's database):
 * a recovery left unfinished by a process that is gone loses its copies (its report says it stopped),
 * and of the recoveries no process runs, all but the newest RECOVERIES_KEPT - 1 are removed.
 * Best effort: what cannot be removed stays.
 */
export async function pruneRecoveries(cfg: Pick<AgentConfig, "stateDir">): Promise<void> {
  const root = recoveriesRoot(cfg);
  const idle: { dir: string; createdAt: string }[] = [];
  for (const name of await fsp.readdir(root).catch(() => [] as string[])) {
    let dir: string;
    try {
      dir = recoveryDir(cfg, name);
    } catch {
      continue;
    }
    if (!(await fsp.stat(dir).catch(() => null))?.isDirectory() || runningIn(dir)) continue;
    let report: RecoveryReport;
    try {
      report = readReport(dir);
    } catch {
      // A recovery that stopped before its first save (recoveries are made under the lock held here).
      await fsp.rm(dir, { recursive: true, force: true }).catch(() => {});
      continue;
    }
    if (report.finishedAt === null) {
      await removeAllBut(dir, new Set());
      try {
        saveReport(cfg, asRead(dir, report));
      } catch {
        // read as stopped all the same
      }
      releaseRecovery(dir);
    }
    idle.push({ dir, createdAt: report.createdAt });
  }
  idle.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  for (const old of idle.slice(RECOVERIES_KEPT - 1)) await fsp.rm(old.dir, { recursive: true, force: true }).catch(() => {});
}

/**
 * Removes every file of the recovery in `dir` but its report, its owner record and `keep` (paths).
 * Best effort: never rejects.
 */
export async function removeAllBut(dir: string, keep: ReadonlySet<string>): Promise<void> {
  for (const f of await fsp.readdir(dir).catch(() => [] as string[])) {
    const file = path.join(dir, f);
    if (f === REPORT_FILE || f === OWNER_FILE || keep.has(file)) continue;
    await fsp.rm(file, { recursive: true, force: true }).catch(() => {});
  }
}

/** The best database of a recovery, for a restore. Throws RecoveryNotFoundError, or Error when it produced none. */
export async function recoveryBestPath(cfg: Pick<AgentConfig, "stateDir">, id: string): Promise<{ path: string; rung: string; rows: number }> {
  const report = loadReport(cfg, id);
  if (!report.best) throw new Error(`Recovery ${id} produced no usable database (${report.recommendation})`);
  await fsp.access(report.best.path).catch(() => {
    throw new Error(`Recovery ${id}'s database (${report.best!.path}) is gone; run the recovery again.`);
  });
  return { path: report.best.path, rung: report.best.rung, rows: report.best.rows };
}
