import "server-only";
import { serverContext, singleton } from "../server/context";
import { logger } from "../log";
import { CatalogService } from "./catalog-service";
import { catalogConfigFromEnv } from "./config";
import { DrillStore } from "../restore/drill-store";

export { CatalogService, matches, type CatalogView, type RefreshOutcome } from "./catalog-service";
export { catalogConfigFromEnv, thresholdsFromEnv, type CatalogConfig, type StoreLocation } from "./config";

/**
 * The dashboard server's catalog (one per process), configured from the environment and refreshing
 * every LIFEBOAT_REFRESH_SECONDS. Other features call `catalogService().refresh()` after writing to
 * the store (e.g. when a backup finishes). Throws ConfigError when the configuration is invalid.
 */
export function catalogService(): CatalogService {
  return singleton("catalog", () => {
    const { env, db } = serverContext();
    const cfg = catalogConfigFromEnv(env);
    // Restore-drill results are keyed by the catalog's source, like its cached listing.
    let drills: DrillStore | undefined;
    const svc: CatalogService = new CatalogService({
      db,
      store: cfg.store,
      location: cfg.location,
      thresholds: cfg.thresholds,
      refreshIntervalMs: cfg.refreshIntervalMs,
      reconcileIntervalMs: cfg.reconcileIntervalMs,
      log: logger("catalog"),
      verifications: () => (drills ??= new DrillStore(db, svc.source)).verifications(),
    });
    svc.start();
    return svc;
  });
}
