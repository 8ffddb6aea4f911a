import { constants } from "node:fs";
import { access, mkdir, readdir, stat } from "node:fs/promises";
import { continuousStatus } from "../routes/continuous";
import { Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { JobType } from "../../lib/contracts/agent-jobs";
import type { AgentDeps } from "../module";
import { AGENT_VERSION } from "../version";
import { readBackupOutcome } from "./backup-outcome";
import { latestHealth } from "./health-cache";

/**
 * The agent's Prometheus metrics (GET /metrics). A scrape is cheap: it reads the backup record and
 * stats the database files; everything about the database's inside comes from the newest health
 * check (GET /health — the dashboard polls it every LIFEBOAT_HEALTH_POLL_SECONDS — or the scheduled
 * integrity_check), with its time in lifeboat_agent_health_timestamp_seconds. A metric whose value is
 * unknown (no backup yet, no check since the agent started, a check during a pending restore) is left
 * out rather than reported as 0.
 */

const seconds = (iso: string | null | undefined) => (iso ? Date.parse(iso) / 1000 : null);

const registries = new WeakMap<AgentDeps, Registry>();

function build(deps: AgentDeps): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const gauge = (name: string, help: string, labelNames: string[], fill: (g: Gauge) => void | Promise<void>) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        // Unknown stays absent: an unlabelled gauge would otherwise report 0 after reset().
        this.reset();
        if (!labelNames.length) this.remove();
        await fill(this);
      },
    });

  gauge("lifeboat_agent_info", "The agent's version (always 1).", ["version"], (g) => g.set({ version: AGENT_VERSION }, 1));

  const outcome = () => readBackupOutcome(deps.config.stateDir);
  gauge("lifeboat_agent_last_backup_success_timestamp_seconds", "When the last successful backup ended (Unix seconds).", [], (g) => {
    const t = seconds(outcome().lastSuccess?.at);
    if (t !== null) g.set(t);
  });
  gauge("lifeboat_agent_last_backup_failure_timestamp_seconds", "When the last failed backup ended (Unix seconds).", [], (g) => {
    const t = seconds(outcome().lastFailure?.at);
    if (t !== null) g.set(t);
  });
  gauge("lifeboat_agent_last_backup_duration_seconds", "How long the last successful and the last failed backup took.", ["outcome"], (g) => {
    const o = outcome();
    if (o.lastSuccess) g.set({ outcome: "success" }, o.lastSuccess.durationSeconds);
    if (o.lastFailure) g.set({ outcome: "failure" }, o.lastFailure.durationSeconds);
  });
  gauge("lifeboat_agent_last_backup_bytes", "Bytes uploaded by the last successful backup (its objects as stored).", [], (g) => {
    const o = outcome();
    if (o.lastSuccess) g.set(o.lastSuccess.bytes);
  });

  const fileSize = (p: string) =>
    stat(p).then(
      (s) => s.size,
      () => null,
    );
  gauge("lifeboat_agent_database_size_bytes", "Size of the live state.db (read at scrape time).", [], async (g) => {
    const n = await fileSize(deps.config.dbPath);
    if (n !== null) g.set(n);
  });
  gauge("lifeboat_agent_wal_size_bytes", "Size of the live state.db-wal (read at scrape time; 0 when there is none).", [], async (g) => {
    g.set((await fileSize(`${deps.config.dbPath}-wal`)) ?? 0);
  });

  // Snapshots, restores, the backup record and the health check all live there: one that cannot be
  // listed or written (EIO, a read-only mount, a file in its place) stops all of them. It is made on
  // first use, as the agent does anyway.
  gauge(
    "lifeboat_agent_state_dir_ok",
    "1 when LIFEBOAT_STATE_DIR can be listed and written (checked at scrape time); 0 when it cannot: backups, restores and health checks fail.",
    [],
    async (g) => {
      const dir = deps.config.stateDir;
      const ok = await mkdir(dir, { recursive: true, mode: 0o700 })
        .then(() => readdir(dir))
        .then(() => access(dir, constants.R_OK | constants.W_OK | constants.X_OK))
        .then(
          () => true,
          () => false,
        );
      g.set(ok ? 1 : 0);
    },
  );
  gauge(
    "lifeboat_agent_log_lag_seconds",
    "Continuous protection: seconds since the newest revision in the store was read (absent while the log is off or has no base).",
    [],
    (g) => {
      const c = continuousStatus(deps);
      if (c.enabled && c.lagSeconds !== null) g.set(c.lagSeconds);
    },
  );
  gauge(
    "lifeboat_agent_log_bytes_anomaly_level",
    "Continuous protection's daily bytes: the standing flag (the newest whole day's, or growth already on the day in progress): 0 none, 1 warning, 2 critical, per type (growth, shrink). Absent while the log is off.",
    ["type"],
    (g) => {
      const c = continuousStatus(deps);
      if (!c.enabled) return;
      for (const type of ["growth", "shrink"] as const)
        g.set({ type }, Math.max(0, ...c.dailyAnomalies.filter((a) => a.type === type).map((a) => (a.level === "critical" ? 2 : 1))));
    },
  );
  gauge("lifeboat_agent_log_interval_seconds", "Continuous protection's LIFEBOAT_LOG_INTERVAL_SECONDS.", [], (g) => {
    g.set(deps.config.logIntervalMs / 1000);
  });

  // While a restore is pending, what the check saw (the database moved aside, k3s stopped) is the
  // restore's doing, not news: absent, as the dashboard's health rules are `known: false` then.
  const health = () => {
    const h = latestHealth(deps);
    return h?.pendingRestoreId ? undefined : h;
  };
  gauge("lifeboat_agent_health_timestamp_seconds", "When the newest health check ran: the metrics below come from it.", [], (g) => {
    const t = seconds(health()?.checkedAt);
    if (t !== null) g.set(t);
  });
  gauge("lifeboat_agent_freelist_size_bytes", "Free pages inside state.db (freelist_count × page_size).", [], (g) => {
    const d = health()?.database;
    if (d?.freelistCount != null && d.pageSize != null) g.set(d.freelistCount * d.pageSize);
  });
  gauge("lifeboat_agent_compaction_lag_revisions", "kine's current revision minus its compact revision (healthy: about 1,000).", [], (g) => {
    const lag = health()?.kine?.compactionLag;
    if (lag !== undefined) g.set(lag);
  });
  gauge(
    "lifeboat_agent_quick_check_ok",
    "1 when the newest PRAGMA quick_check passed (0 also when SQLite could not open the database, or it holds no readable kine table).",
    [],
    (g) => {
      const h = health();
      // A 0-byte or foreign state.db opens and passes quick_check on nothing; k3s would start an empty cluster on it.
      if (h) g.set(h.database.opened && h.quickCheck.ran && h.quickCheck.ok && (h.kine || !h.kineError) ? 1 : 0);
    },
  );
  gauge("lifeboat_agent_integrity_check_ok", "1 when the last full PRAGMA integrity_check passed.", [], (g) => {
    const c = health()?.integrityCheck;
    if (c?.ran) g.set(c.ok ? 1 : 0);
  });
  gauge("lifeboat_agent_integrity_check_timestamp_seconds", "When the last full integrity_check ran.", [], (g) => {
    const t = seconds(health()?.integrityCheck?.at);
    if (t !== null) g.set(t);
  });
  gauge("lifeboat_agent_file_ownership_ok", "1 when a k3s file has the owner (LIFEBOAT_OWNER) and mode it should have.", ["path"], (g) => {
    for (const e of health()?.ownership.entries ?? []) if (e.exists) g.set({ path: e.path }, e.ok ? 1 : 0);
  });
  gauge("lifeboat_agent_staging_free_bytes", "Free bytes where restores stage.", [], (g) => {
    const d = health()?.disk;
    if (d) g.set(d.freeBytes);
  });
  gauge("lifeboat_agent_staging_needed_bytes", "Bytes a restore of the live database needs to stage.", [], (g) => {
    const d = health()?.disk;
    if (d) g.set(d.neededForStaging);
  });

  gauge("lifeboat_agent_job_running", "1 while a job of this type runs on the agent.", ["type"], (g) => {
    const running = new Set(
      deps.jobs
        .list()
        .filter((j) => j.state === "running")
        .map((j) => j.type),
    );
    for (const t of JobType.options) g.set({ type: t }, running.has(t) ? 1 : 0);
  });
  return registry;
}

/** The agent's metrics in Prometheus's text format, with its content type. */
export async function agentMetrics(deps: AgentDeps): Promise<{ text: string; contentType: string }> {
  let registry = registries.get(deps);
  if (!registry) registries.set(deps, (registry = build(deps)));
  return { text: await registry.metrics(), contentType: registry.contentType };
}
