import { ContinuousStatus, LogTimeline, TimelineQuery } from "../../lib/contracts/continuous";
import type { AgentDeps, AgentModule } from "../module";
import type { LogShipper } from "../continuous/shipper";

let shipper: LogShipper | null = null;
let offReason: string | null = null;

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
    deps.log.info({ component: "continuous", intervalSeconds: deps.config.logIntervalMs / 1000 }, "continuous protection: shipping kine's revisions");
  },
  async stop() {
    await shipper?.stop();
    shipper = null;
  },
};
