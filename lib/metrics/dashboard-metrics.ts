import "server-only";
import { Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { ALERT_NAMES } from "../contracts/alerts";
import type { RefreshOutcome } from "../catalog/catalog-service";
import type { AlertSources } from "../alerts/alert-service";
import type { AlertStore } from "../alerts/alert-store";
import { compactionRising, newestSets } from "../alerts/rules/catalog-rules";
import { median } from "../backups/anomalies";
import { countsAsBackup, receivedBefore } from "../backups/grouping";
import type { RuleConfig } from "../alerts/rules/types";

/**
 * The dashboard's Prometheus metrics (GET /api/metrics), read from the same sources as the built-in
 * alert rules at scrape time, so deploy/prometheus/lifeboat-rules.yaml can say what the built-in
 * rules say. A value that is unknown (no set of a kind, no drill yet) is absent, not 0.
 */

export interface DashboardMetricsDeps {
  sources: AlertSources;
  alerts: AlertStore;
  /** Whether the newest agent poll reached it; null without an agent or before the first poll. */
  agentUp: () => boolean | null;
  config: RuleConfig;
  /** Anomaly staleness threshold (LIFEBOAT_STALE_CRITICAL). */
  staleCritical: number;
}

const LEVEL = { warning: 1, critical: 2 } as const;
const secs = (iso: string) => Date.parse(iso) / 1000;

/** Builds the registry; `observeRefresh` records each catalog refresh (subscribe it to the catalog). */
export function buildDashboardMetrics(deps: DashboardMetricsDeps): { registry: Registry; observeRefresh: (o: RefreshOutcome) => void } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const gauge = (name: string, help: string, labelNames: string[], fill: (g: Gauge) => void | Promise<void>) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        this.reset();
        if (!labelNames.length) this.remove(); // unknown stays absent
        await fill(this);
      },
    });

  const catalog = () => deps.sources.catalog();
  gauge("lifeboat_backup_newest_timestamp_seconds", "Time of the newest backup set holding each object kind (from its name).", ["kind", "format"], (g) => {
    for (const [kind, s] of newestSets(catalog().sets).byKind) g.set({ kind, format: s.format }, secs(s.timestamp));
  });
  gauge("lifeboat_backup_newest_size_bytes", "Size of the newest object of each kind.", ["kind", "format"], (g) => {
    for (const [kind, s] of newestSets(catalog().sets).byKind) g.set({ kind, format: s.format }, s.objects.find((o) => o.kind === kind)!.size);
  });
  gauge(
    "lifeboat_backup_anomaly_level",
    "The newest set's flag: 0 none, 1 warning, 2 critical; growth and shrink per object kind, gap per format (kind=set).",
    ["kind", "format", "type"],
    (g) => {
      const { byKind, byFormat } = newestSets(catalog().sets);
      for (const [kind, s] of byKind)
        for (const type of ["growth", "shrink"] as const) {
          const levels = s.anomalies.filter((a) => a.kind === kind && a.type === type).map((a) => LEVEL[a.level]);
          g.set({ kind, format: s.format, type }, Math.max(0, ...levels));
        }
      for (const [format, s] of byFormat) {
        const gap = s.anomalies.filter((a) => a.type === "gap").map((a) => LEVEL[a.level]);
        g.set({ kind: "set", format, type: "gap" }, Math.max(0, ...gap));
      }
    },
  );
  gauge(
    "lifeboat_backup_last_set_timestamp_seconds",
    "Time of the newest backup set of any format (when the store received the newest backup, when that is earlier: a name dated ahead by a wrong clock).",
    [],
    (g) => {
      const sets = catalog().sets;
      const s = newestSets(sets).byFormat;
      let t = Math.max(...[...s.values()].map((x) => secs(x.timestamp)));
      // As the catalog's stale flag: a set named ahead of when it arrived must not look fresh until its date.
      t =
        receivedBefore(
          t * 1000,
          sets.filter(countsAsBackup).flatMap((x) => x.objects),
        ) / 1000;
      if (Number.isFinite(t)) g.set(t);
    },
  );
  gauge(
    "lifeboat_backup_complete_sets",
    "Sets in the store that count as a backup (seed sets, Lifeboat sets with their manifest); absent until the store was listed whole. 0 fires LifeboatBackupStale.",
    [],
    (g) => {
      const c = catalog();
      if (c.configured && c.refreshedAt !== null && !c.partial && !c.error) g.set(c.sets.filter(countsAsBackup).length);
    },
  );
  gauge(
    "lifeboat_backup_stale_after_seconds",
    "How old the newest set may get before LifeboatBackupStale: LIFEBOAT_STALE_CRITICAL × the usual interval of its format (absent with too little history).",
    [],
    (g) => {
      const sets = catalog().sets.filter((s) => s.format === catalog().sets[0]?.format);
      // The usual interval: the median of the newest 7 intervals, as the catalog's stale flag takes it.
      const times = sets.slice(0, 8).map((s) => Date.parse(s.timestamp));
      if (times.length < 4) return;
      const gaps = times.slice(1).map((t, i) => times[i] - t);
      g.set((deps.staleCritical * median(gaps)) / 1000);
    },
  );
  gauge(
    "lifeboat_drill_newest_state",
    "Restore drill of the newest drilled set of each format: 1 for its state (verified or failed).",
    ["format", "state"],
    (g) => {
      const c = catalog();
      const seen = new Set<string>();
      for (const s of c.sets) {
        const v = c.verifications.get(s.id);
        if (seen.has(s.format) || !v || (v.state !== "verified" && v.state !== "failed")) continue;
        seen.add(s.format);
        g.set({ format: s.format, state: "verified" }, v.state === "verified" ? 1 : 0);
        g.set({ format: s.format, state: "failed" }, v.state === "failed" ? 1 : 0);
      }
    },
  );
  gauge("lifeboat_backup_compaction_lag_revisions", "kine's compaction lag in the newest Lifeboat set's manifest.", [], async (g) => {
    const m = await deps.sources.manifests(catalog().sets).catch(() => []);
    if (m[0]) g.set(m[0].stats.compactionLag);
  });
  gauge(
    "lifeboat_backup_compaction_lag_rising",
    "1 when the compaction lag rose over the last three manifests (each by at least 1,000 revisions).",
    [],
    async (g) => {
      const m = await deps.sources.manifests(catalog().sets).catch(() => null);
      if (m) g.set(compactionRising(m, deps.config.compactionRiseMin) ? 1 : 0);
    },
  );

  let lastSeconds: number | null = null;
  const histogram = new Histogram({
    name: "lifeboat_catalog_refresh_duration_seconds",
    help: "How long listing the store took.",
    labelNames: ["result"],
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120],
    registers: [registry],
  });
  gauge("lifeboat_catalog_last_refresh_success", "1 when the newest catalog refresh listed the store.", [], (g) => {
    const c = catalog();
    if (c.configured && (lastSeconds !== null || c.refreshedAt || c.error)) g.set(c.error ? 0 : 1);
  });
  gauge("lifeboat_catalog_error", "1 while the store cannot be listed, by failure (unreachable, auth, no_bucket, cache, other).", ["failure"], (g) => {
    const e = catalog().error;
    if (e) g.set({ failure: e.failure }, 1);
  });
  gauge("lifeboat_catalog_last_success_timestamp_seconds", "When the store was last listed successfully.", [], (g) => {
    const r = catalog().refreshedAt;
    if (r) g.set(secs(r));
  });
  gauge("lifeboat_catalog_last_refresh_duration_seconds", "How long the newest refresh took.", [], (g) => {
    if (lastSeconds !== null) g.set(lastSeconds);
  });

  gauge("lifeboat_agent_up", "1 when the dashboard's newest poll of the agent got an answer (absent without an agent).", [], (g) => {
    const up = deps.agentUp();
    if (up !== null) g.set(up ? 1 : 0);
  });

  gauge("lifeboat_alert_state", "Each built-in alert: 0 not firing, 1 firing as a warning, 2 firing as critical (the worst of its scopes).", ["alert"], (g) => {
    const open = deps.alerts.open();
    for (const name of ALERT_NAMES) g.set({ alert: name }, Math.max(0, ...open.filter((e) => e.name === name).map((e) => LEVEL[e.severity])));
  });
  gauge("lifeboat_alert_firing", "1 for each firing alert, by its key (name and scope).", ["alert", "key", "severity"], (g) => {
    for (const e of deps.alerts.open()) g.set({ alert: e.name, key: e.key, severity: e.severity }, 1);
  });

  return {
    registry,
    observeRefresh(o) {
      lastSeconds = o.ms / 1000;
      histogram.observe({ result: o.ok ? "success" : "failure" }, o.ms / 1000);
    },
  };
}
