import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { writeFileDurable } from "../../lib/storage/durable-file";
import { BackupOutcome, type BackupResult } from "../../lib/contracts/agent-backup";
import type { Job } from "../../lib/contracts/agent-jobs";

/**
 * The agent's record of its last successful and last failed backup, in
 * `<LIFEBOAT_STATE_DIR>/metrics/last-backup.json`: written when a backup job ends, whatever started
 * it (the schedule, the API, or `lifeboat-agent backup` from a timer in another process), and read
 * by GET /backups/last and GET /metrics, so a restart forgets nothing.
 */

const file = (stateDir: string) => path.join(stateDir, "metrics", "last-backup.json");

/** The record; both entries null when no backup ended yet (or the file is unreadable). Never throws. */
export function readBackupOutcome(stateDir: string): BackupOutcome {
  try {
    const parsed = BackupOutcome.safeParse(JSON.parse(readFileSync(file(stateDir), "utf8")));
    if (parsed.success) return parsed.data;
  } catch {
    // no backup recorded yet
  }
  return { lastSuccess: null, lastFailure: null };
}

/** Records how a finished backup job ended. Throws on I/O errors (callers log and go on: the backup itself is not affected). */
export function recordBackupOutcome(stateDir: string, job: Job): void {
  const cur = readBackupOutcome(stateDir);
  const at = job.finishedAt ?? new Date().toISOString();
  const durationSeconds = Math.max(0, (Date.parse(at) - Date.parse(job.startedAt)) / 1000);
  if (job.state === "succeeded") {
    const r = job.result as BackupResult;
    const bytes = r.manifest.objects.reduce((n, o) => n + o.size, 0);
    cur.lastSuccess = { at, jobId: job.id, setId: r.setId, durationSeconds, bytes };
  } else cur.lastFailure = { at, jobId: job.id, durationSeconds, error: job.error ?? `The backup ended ${job.state}.` };
  mkdirSync(path.dirname(file(stateDir)), { recursive: true, mode: 0o700 });
  writeFileDurable(file(stateDir), JSON.stringify(cur));
}
