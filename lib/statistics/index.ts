import "server-only";
import { agentClientFromEnv } from "../agent/agent-client";
import { catalogService } from "../catalog";
import { hasErrorCode } from "../contracts/errors";
import { logger } from "../log";
import { DrillStore } from "../restore/drill-store";
import { serverContext, singleton } from "../server/context";
import { StatisticsService } from "./service";
import { SetStatisticsStore } from "./store";

export { StatisticsService, type StatisticsCatalogPort, type DrillPort } from "./service";
export { SetStatisticsStore, type StatisticsSummary } from "./store";

/**
 * The dashboard server's statistics and explanations (one per process), over the catalog's store:
 * statistics are kept per source like the cached listing and the drill results. Throws ConfigError
 * when the catalog's configuration is invalid.
 */
export function statisticsService(): StatisticsService {
  return singleton("statistics", () => {
    const { db } = serverContext();
    const catalog = catalogService();
    const drills = new DrillStore(db, catalog.source);
    return new StatisticsService({
      store: new SetStatisticsStore(db, catalog.source),
      catalog: { sets: () => catalog.view().sets, manifest: (set) => catalog.manifest(set) },
      drills: {
        state(setId) {
          const d = drills.get(setId);
          return d && { state: d.state, reason: d.reason, stats: d.detail?.stats ?? null, finishedAt: d.finishedAt };
        },
        passed: () => drills.inState("verified").flatMap((d) => (d.detail?.stats ? [{ setId: d.setId, stats: d.detail.stats, finishedAt: d.finishedAt }] : [])),
      },
      agent: () => {
        try {
          return agentClientFromEnv(serverContext().env);
        } catch (err) {
          if (hasErrorCode(err, "config")) return null;
          throw err;
        }
      },
      log: logger("statistics"),
    });
  });
}
