import { HttpError, reply } from "../http/router";
import type { AgentDeps, AgentModule } from "../module";
import { AgentConfigError, readPassphrase } from "../config";
import { JobRunningError } from "../jobs/job-registry";
import { JobStarted } from "../../lib/contracts/agent-jobs";
import { BackupList, LiveStats, RetentionReport, RetentionRequest, StartBackupRequest } from "../../lib/contracts/agent-backup";
import { StorageError, NotFoundError } from "../../lib/storage/errors";
import { nextScheduledRun, startSchedule } from "../backup/schedule";

// The pipeline (openpgp, zstd, SQLite, the S3 SDK) is imported when a request needs it, not at start:
// an idle agent stays small (README "agent (backup)": idle RSS goal ≤ 60 MB).
const pipeline = () => import("../backup/run-backup");

/** Turns the errors a user can meet into 4xx/5xx answers that say what to do (never "internal"). */
function asHttpError(err: unknown): unknown {
  if (err instanceof AgentConfigError) return new HttpError(503, "not_configured", err.message);
  if (err instanceof StorageError) return new HttpError(502, `storage_${err.failure}`, err.message);
  if (err instanceof NotFoundError) return new HttpError(502, "storage_not_found", err.message);
  if ((err as Error)?.name === "SnapshotError") return new HttpError(503, `snapshot_${(err as { failure: string }).failure}`, (err as Error).message);
  return err;
}

async function mapErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw asHttpError(err);
  }
}

let schedule: { stop(): void; nextRun(): Date | null } | null = null;

/** Scheduled backups (croner) go through the same job path as POST /backups. */
function startScheduledBackups(deps: AgentDeps): void {
  const expr = deps.config.schedule;
  if (!expr) return;
  const log = deps.log.child({ component: "schedule" });
  schedule = startSchedule(expr, () => {
    void pipeline().then(({ startBackupJob }) => {
      try {
        const { id } = startBackupJob(deps, { retention: true, allowNewPassphrase: false }, "schedule");
        log.info({ jobId: id }, "scheduled backup started");
      } catch (err) {
        if (err instanceof JobRunningError) log.warn({ running: err.jobId }, "scheduled backup skipped: a backup is already running");
        else log.error({ err: (err as Error).message }, "scheduled backup could not start");
      }
    });
  });
  log.info({ cron: expr, timezone: "UTC", nextRunAt: schedule.nextRun()?.toISOString() ?? null }, "backup schedule active");
}

/** POST /backups, GET /backups, POST /retention, GET /stats, and the backup schedule. */
export const backupsModule: AgentModule = {
  name: "backups",
  routes(router, deps) {
    router.add({
      method: "POST",
      path: "/backups",
      body: StartBackupRequest,
      response: JobStarted,
      handler: async ({ body }) => {
        const { startBackupJob } = await pipeline();
        // Configuration mistakes answer at once (503) instead of as a failed job a moment later.
        await mapErrors(async () => {
          readPassphrase(deps.config);
          deps.store();
        });
        try {
          const { id } = startBackupJob(deps, body, "api");
          return reply(202, { jobId: id });
        } catch (err) {
          if (err instanceof JobRunningError) throw new HttpError(409, "job_running", err.message, { jobId: err.jobId });
          throw err;
        }
      },
    });
    router.add({
      method: "GET",
      path: "/backups",
      response: BackupList,
      handler: () =>
        mapErrors(async () => {
          const { listStoreSets, toListedSet } = await import("../backup/sets");
          const store = deps.store();
          const listing = await listStoreSets(store);
          const cron = deps.config.schedule;
          const next = schedule?.nextRun() ?? nextScheduledRun(cron);
          return { source: store.description, sets: listing.sets.map(toListedSet), other: listing.other, schedule: { cron, nextRunAt: next?.toISOString() ?? null } };
        }),
    });
    router.add({
      method: "POST",
      path: "/retention",
      body: RetentionRequest,
      response: RetentionReport,
      handler: ({ body, log }) =>
        mapErrors(async () => {
          const { runRetention } = await import("../backup/retention-run");
          return runRetention(deps.store(), deps.config.retention, { dryRun: body.dryRun, log });
        }),
    });
    router.add({
      method: "GET",
      path: "/stats",
      response: LiveStats,
      handler: () =>
        mapErrors(async () => {
          const { takeLiveStats } = await import("../backup/live-stats");
          return takeLiveStats(deps);
        }),
    });
  },
  start(deps) {
    startScheduledBackups(deps);
  },
  stop() {
    schedule?.stop();
    schedule = null;
  },
};
