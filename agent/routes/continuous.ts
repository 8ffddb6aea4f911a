import { ContinuousStatus, LogTimeline, TimelineQuery } from "../../lib/contracts/continuous";
import type { AgentDeps, AgentModule } from "../module";
import type { LogShipper } from "../continuous/shipper";
import { onBackupDone } from "../continuous/base-hook";
import { readPassphrase } from "../config";

let shipper: LogShipper | null = null;
let offReason: string | null = null;
let offCompaction: (() => void) | null = null;
let compacting: Promise<void> | null = null;

/**
 * Folds the log's closed windows (agent/continuous/compaction.ts) after each backup set `serve`
 * takes (the nightly schedule's is the natural moment) and once every window. One run at a time; a
 * failure is logged and the next run tries again. Never throws.
 */
function compactAfterBackups(deps: AgentDeps): () => void {
  const log = deps.log.child({ component: "log-compaction" });
  let live = true;
  const run = (): void => {
    if (!live) return;
    // A checkpoint running (a fraction of a second): the fold follows it rather than waiting a window.
    if (compacting) {
      void compacting.then(() => setImmediate(run));
      return;
    }
    compacting = (async () => {
      const { compactLog } = await import("../continuous/compaction");
      const done = await compactLog(deps.store(), { ...(await compactionOptions(deps, log)), foldHours: deps.config.logFoldHours });
      if (done.length) log.info({ windows: done.length, segments: done.reduce((n, r) => n + r.segmentsFolded, 0) }, "log compaction: done");
    })()
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, "log compaction failed; the next run tries again"))
      .finally(() => (compacting = null));
  };
  const off = onBackupDone(run);
  // Also once a window: with only a nightly backup, a day of windows would wait raw until the next night.
  const timer = setInterval(run, timerMs(deps.config.logCompactHours * 3_600_000, 60_000));
  timer.unref();
  // Checkpoints of the open window (a shortcut for restores to its points), between the folds.
  const minutes = deps.config.logCheckpointMinutes;
  const checkpoints = minutes > 0 ? setInterval(() => checkpoint(deps, log), timerMs(minutes * 60_000, 1000)) : null;
  checkpoints?.unref();
  return () => {
    live = false;
    off();
    clearInterval(timer);
    if (checkpoints) clearInterval(checkpoints);
  };
}

/**
 * A timer's period: at least `min`, at most the longest Node's timers take (2³¹−1 ms, ~24.8 days):
 * beyond it Node runs the timer every millisecond instead (LIFEBOAT_LOG_COMPACT_HOURS=1000 did).
 */
export function timerMs(ms: number, min: number): number {
  return Math.min(Math.max(ms, min), 2 ** 31 - 1);
}

/** What a fold or a checkpoint run of `serve` is given: the passphrase, the window, now, the scratch directory. */
async function compactionOptions(deps: AgentDeps, log: AgentDeps["log"]) {
  const { continuousDir } = await import("../continuous/position");
  return {
    passphrase: readPassphrase(deps.config),
    windowHours: deps.config.logCompactHours,
    now: new Date(),
    scratchDir: continuousDir(deps.config.stateDir).compaction,
    log,
  };
}

/** One checkpoint run (compaction.ts checkpointLog), unless a fold or checkpoint is running. Never throws. */
function checkpoint(deps: AgentDeps, log: AgentDeps["log"]): void {
  if (compacting) return;
  compacting = (async () => {
    const { checkpointLog } = await import("../continuous/compaction");
    const r = await checkpointLog(deps.store(), await compactionOptions(deps, log));
    if (r.written)
      log.info(
        { key: r.written.key, segments: r.written.segmentsFolded, rowsKept: r.written.rowsKept, bytes: r.written.bytesAfter, deleted: r.deleted.length },
        "log checkpoint written",
      );
  })()
    .catch((err: unknown) => log.warn({ err: (err as Error).message }, "log checkpoint failed; the next run tries again"))
    .finally(() => (compacting = null));
}

/** Why continuous protection cannot run with this configuration, or null when it can. */
function whyOff(deps: AgentDeps): string | null {
  const cfg = deps.config;
  if (cfg.logIntervalMs === 0) return "Continuous protection is off (LIFEBOAT_LOG_INTERVAL_SECONDS=0).";
  if (!cfg.passphraseFile) return "Continuous protection is off: LIFEBOAT_PASSPHRASE_FILE is not set, so segments cannot be encrypted.";
  if (!cfg.s3 && !cfg.backupDir) return "Continuous protection is off: no backup store is configured (AWS_S3_BUCKET or LIFEBOAT_BACKUP_DIR).";
  return null;
}

/** The protection line, for GET /continuous and /health: the shipper's, or why there is none. */
export function continuousStatus(deps: AgentDeps): ContinuousStatus {
  if (shipper) return shipper.status();
  return {
    enabled: false,
    problem: offReason ?? whyOff(deps) ?? "Continuous protection runs in `lifeboat-agent serve` only.",
    intervalSeconds: Math.round(deps.config.logIntervalMs / 1000),
    generation: null,
    generationReason: null,
    baseSetId: null,
    shippedRevision: null,
    shippedAt: null,
    lagSeconds: null,
    segments: 0,
    bytes: 0,
    pendingSegments: 0,
    dailyBytes: [],
    dailyAnomalies: [],
  };
}

/** GET /continuous, GET /continuous/timeline (the points a restore can reach), and the log shipper `serve` runs every LIFEBOAT_LOG_INTERVAL_SECONDS (agent/continuous/shipper.ts). */
export const continuousModule: AgentModule = {
  name: "continuous",
  routes(router, deps) {
    router.add({ method: "GET", path: "/continuous", response: ContinuousStatus, handler: () => continuousStatus(deps) });
    router.add({
      method: "GET",
      path: "/continuous/timeline",
      query: TimelineQuery,
      response: LogTimeline,
      handler: async ({ query }) => {
        const status = continuousStatus(deps);
        const { readTimeline } = await import("../continuous/timeline");
        return readTimeline(deps, query, status.enabled ? null : status.problem);
      },
    });
  },
  async start(deps) {
    offReason = whyOff(deps);
    if (offReason) {
      deps.log.info({ component: "continuous" }, offReason);
      return;
    }
    const { LogShipper } = await import("../continuous/shipper");
    shipper = new LogShipper(deps, { intervalMs: deps.config.logIntervalMs });
    shipper.start();
    if (deps.config.logCompactHours > 0) offCompaction = compactAfterBackups(deps);
    deps.log.info({ component: "continuous", intervalSeconds: deps.config.logIntervalMs / 1000 }, "continuous protection: shipping kine's revisions");
  },
  async stop() {
    offCompaction?.();
    offCompaction = null;
    await compacting;
    await shipper?.stop();
    shipper = null;
  },
};
