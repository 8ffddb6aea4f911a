import { reply } from "../http/router";
import type { AgentDeps, AgentModule } from "../module";
import { readPassphrase } from "../config";
import { JobRunningError } from "../jobs/job-registry";
import { JobStarted } from "../../lib/contracts/agent-jobs";
import { BackupList, LiveStats, RetentionReport, RetentionRequest, StartBackupRequest } from "../../lib/contracts/agent-backup";
import { nextScheduledRun, startSchedule } from "../backup/schedule";

// The pipeline (openpgp, zstd, SQLite, the S3 SDK) is imported when a request needs it, not at start:
// an idle agent stays small (README "agent (backup)": idle RSS goal ≤ 60 MB).
const pipeline = () => import("../backup/run-backup");

let schedule: { stop(): void; nextRun(): Date | null } | null = null;

/** Scheduled backups (croner) go through the same job path as POST /backups. */
function startScheduledBackups(deps: AgentDeps): void {
  const expr = deps.config.schedule;
  if (!expr) return;
  const log = deps.log.child({ component: "schedule" });
  schedule = startSchedule(expr, () => {
    void pipeline().then(({ startBackupJob, BackupBusyError }) => {
      try {
        const { id } = startBackupJob(deps, { retention: true, allowNewPassphrase: false }, "schedule");
        log.info({ jobId: id }, "scheduled backup started");
      } catch (err) {
        if (err instanceof JobRunningError) log.warn({ running: err.jobId }, "scheduled backup skipped: a backup is already running");
        else if (err instanceof BackupBusyError) log.warn({ pid: err.pid }, "scheduled backup skipped: another process is taking a backup");
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
        // Configuration mistakes answer at once (503 not_configured) instead of as a failed job a moment later.
        readPassphrase(deps.config);
        deps.store();
        const { id } = startBackupJob(deps, body, "api");
        return reply(202, { jobId: id });
      },
    });
    router.add({
      method: "GET",
      path: "/backups",
      response: BackupList,
      handler: async () => {
        const { listStoreSets, toListedSet } = await import("../backup/sets");
        const store = deps.store();
        const listing = await listStoreSets(store);
        const cron = deps.config.schedule;
        const next = schedule?.nextRun() ?? nextScheduledRun(cron);
        return {
          source: store.description,
          sets: listing.sets.map(toListedSet),
          other: listing.other,
          schedule: { cron, nextRunAt: next?.toISOString() ?? null },
        };
      },
    });
    router.add({
      method: "POST",
      path: "/retention",
      body: RetentionRequest,
      response: RetentionReport,
      handler: async ({ body, log }) => {
        const { runRetention } = await import("../backup/retention-run");
        return runRetention(deps.store(), deps.config.retention, { dryRun: body.dryRun, log, stateDir: deps.config.stateDir });
      },
    });
    router.add({
      method: "GET",
      path: "/stats",
      response: LiveStats,
      handler: async () => {
        const { takeLiveStats } = await import("../backup/live-stats");
        return takeLiveStats(deps);
      },
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
