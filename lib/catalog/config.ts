import type { DashboardEnv } from "../env";
import { ConfigError } from "../env";
import { DEFAULT_THRESHOLDS, thresholdProblems, type AnomalyThresholds } from "../backups/anomalies";
import { S3BackupStore, normalizePrefix, type BackupStore } from "../storage";

/** Where the catalog reads from, in words a banner can show (never a credential). */
export interface StoreLocation {
  endpoint: string | null;
  bucket: string | null;
  prefix: string | null;
}

export interface CatalogConfig {
  /** null when no bucket is configured. */
  store: BackupStore | null;
  location: StoreLocation;
  thresholds: AnomalyThresholds;
  refreshIntervalMs: number;
  reconcileIntervalMs: number;
}

const ENV_NAMES: Partial<Record<keyof AnomalyThresholds, string>> = {
  growthWarning: "LIFEBOAT_GROWTH_WARNING",
  growthCritical: "LIFEBOAT_GROWTH_CRITICAL",
  shrinkCritical: "LIFEBOAT_SHRINK_CRITICAL",
  gapWarning: "LIFEBOAT_GAP_WARNING",
  staleCritical: "LIFEBOAT_STALE_CRITICAL",
};

/** Anomaly thresholds from the environment. Throws ConfigError naming the variables when they contradict each other. */
export function thresholdsFromEnv(env: DashboardEnv): AnomalyThresholds {
  const t: AnomalyThresholds = {
    ...DEFAULT_THRESHOLDS,
    growthWarning: env.LIFEBOAT_GROWTH_WARNING,
    growthCritical: env.LIFEBOAT_GROWTH_CRITICAL,
    shrinkCritical: env.LIFEBOAT_SHRINK_CRITICAL,
    gapWarning: env.LIFEBOAT_GAP_WARNING,
    staleCritical: env.LIFEBOAT_STALE_CRITICAL,
  };
  const problems = thresholdProblems(t);
  if (problems.length) {
    const named = problems.map((p) =>
      p.replace(/\b(growthWarning|growthCritical|shrinkCritical|gapWarning|staleCritical)\b/g, (k) => ENV_NAMES[k as keyof AnomalyThresholds] ?? k),
    );
    throw new ConfigError(`Invalid anomaly thresholds:\n  ${named.join("\n  ")}`);
  }
  return t;
}

/**
 * The catalog's configuration from the dashboard environment: the S3 store named by the seed
 * CronJob's variables (AWS_S3_ENDPOINT, AWS_S3_BUCKET, AWS_S3_PATH, AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION), thresholds, refresh interval. Throws ConfigError.
 */
export function catalogConfigFromEnv(env: DashboardEnv): CatalogConfig {
  const thresholds = thresholdsFromEnv(env);
  const prefix = normalizePrefix(env.AWS_S3_PATH) || null;
  const store = env.AWS_S3_BUCKET
    ? new S3BackupStore({
        endpoint: env.AWS_S3_ENDPOINT,
        bucket: env.AWS_S3_BUCKET,
        prefix: prefix ?? undefined,
        region: env.AWS_DEFAULT_REGION,
        accessKeyId: env.AWS_ACCESS_KEY_ID,
        secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
        // A page waits at most for one refresh: fail over to the cached listing quickly.
        maxAttempts: 2,
      })
    : null;
  return {
    store,
    location: { endpoint: env.AWS_S3_ENDPOINT ?? (env.AWS_S3_BUCKET ? "AWS S3" : null), bucket: env.AWS_S3_BUCKET ?? null, prefix },
    thresholds,
    refreshIntervalMs: env.LIFEBOAT_REFRESH_SECONDS * 1000,
    reconcileIntervalMs: env.LIFEBOAT_RECONCILE_SECONDS * 1000,
  };
}
