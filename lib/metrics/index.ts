import "server-only";
import type { Registry } from "prom-client";
import { agentWatch, alertService, ruleConfigFromEnv } from "../alerts";
import { catalogSources } from "../alerts/sources";
import { catalogService } from "../catalog";
import { hasErrorCode } from "../contracts/errors";
import { serverContext, singleton } from "../server/context";
import { buildDashboardMetrics } from "./dashboard-metrics";

/**
 * The dashboard's metrics registry (one per process), subscribed to the catalog's refreshes from
 * server start (instrumentation.ts). Throws ConfigError when the configuration is invalid.
 */
export function dashboardMetrics(): Registry {
  return singleton("metrics.registry", () => {
    const { env, db } = serverContext();
    const catalog = catalogService();
    const watch = agentWatch();
    const { registry, observeRefresh } = buildDashboardMetrics({
      sources: catalogSources(catalog, db, () => watch.input()),
      alerts: alertService().store,
      agentUp: () => watch.up(),
      config: ruleConfigFromEnv(env),
      staleCritical: env.LIFEBOAT_STALE_CRITICAL,
    });
    catalog.onRefreshed(observeRefresh);
    return registry;
  });
}

/** Creates the registry at server start so it counts every refresh (a configuration error is left to the pages to say). */
export function startMetrics(): void {
  try {
    dashboardMetrics();
  } catch (err) {
    if (!hasErrorCode(err, "config")) throw err;
  }
}
