import { promises as fsp, readFileSync } from "node:fs";
import path from "node:path";
import type { RecoveryReport } from "../../lib/contracts/agent-recovery";
import { DomainError } from "../../lib/contracts/errors";
import { writeFileDurable } from "../../lib/storage/durable-file";
import type { AgentConfig } from "../config";

/**
 * Recovery attempts on disk: `<LIFEBOAT_STATE_DIR>/recoveries/<id>/` holds the copies each rung
 * worked on, what each produced, and `report.json`. The best result stays there as a restore
 * candidate until removed by hand.
 */

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
  writeFileDurable(path.join(recoveryDir(cfg, report.id), "report.json"), JSON.stringify(report, null, 2));
}

/** One report; throws RecoveryNotFoundError. */
export function loadReport(cfg: Pick<AgentConfig, "stateDir">, id: string): RecoveryReport {
  try {
    return JSON.parse(readFileSync(path.join(recoveryDir(cfg, id), "report.json"), "utf8")) as RecoveryReport;
  } catch {
    throw new RecoveryNotFoundError(id);
  }
}

/** Every report, newest first. */
export async function listReports(cfg: Pick<AgentConfig, "stateDir">): Promise<RecoveryReport[]> {
  const out: RecoveryReport[] = [];
  for (const name of await fsp.readdir(recoveriesRoot(cfg)).catch(() => [] as string[])) {
    try {
      out.push(loadReport(cfg, name));
    } catch {
      // not a finished attempt
    }
  }
  return out.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

/** The best database of a recovery, for a restore. Throws RecoveryNotFoundError, or Error when it produced none. */
export async function recoveryBestPath(cfg: Pick<AgentConfig, "stateDir">, id: string): Promise<{ path: string; rung: string; rows: number }> {
  const report = loadReport(cfg, id);
  if (!report.best) throw new Error(`Recovery ${id} produced no usable database (${report.recommendation})`);
  await fsp.access(report.best.path);
  return { path: report.best.path, rung: report.best.rung, rows: report.best.rows };
}
