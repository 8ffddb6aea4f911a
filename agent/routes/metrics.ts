import { BackupOutcome } from "../../lib/contracts/agent-backup";
import { textReply } from "../http/router";
import type { AgentModule } from "../module";
import { readBackupOutcome } from "../metrics/backup-outcome";

/**
 * GET /metrics (Prometheus, behind the bearer token like every route but /livez) and GET /backups/last
 * (the record of the last successful and failed backup). prom-client loads on the first scrape, not
 * at start: an idle agent stays small.
 */
export const metricsModule: AgentModule = {
  name: "metrics",
  routes(router, deps) {
    router.add({
      method: "GET",
      path: "/metrics",
      handler: async () => {
        const { agentMetrics } = await import("../metrics/prometheus");
        const { text, contentType } = await agentMetrics(deps);
        return textReply(text, contentType);
      },
    });
    router.add({
      method: "GET",
      path: "/backups/last",
      response: BackupOutcome,
      handler: () => readBackupOutcome(deps.config.stateDir),
    });
  },
};
