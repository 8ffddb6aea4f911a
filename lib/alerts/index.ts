import "server-only";
import { configuredAgentOrNull } from "../agent/configured";
import { statisticsService } from "../statistics";
import type { Job } from "../contracts/agent-jobs";
import { hasErrorCode } from "../contracts/errors";
import type { DashboardEnv } from "../env";
import { catalogService } from "../catalog";
import { logger } from "../log";
import { envChannels } from "../notify/env-channels";
import { Notifier } from "../notify/notifier";
import { serverContext, singleton } from "../server/context";
import { audit } from "../db/database";
import { AgentWatch } from "./agent-watch";
import { AlertService } from "./alert-service";
import { catalogSources } from "./sources";
import { DEFAULT_RULE_CONFIG, type RuleConfig } from "./rules/types";
import { thresholdsFromEnv } from "../catalog/config";

export { AlertService } from "./alert-service";
export { AgentWatch } from "./agent-watch";

/**
 * The dashboard server's alerts (one per process), wired to its catalog, drill results, agent and
 * notification channels. Started at server start (instrumentation.ts) so the agent is polled and
 * rules are evaluated with no page open: after every catalog refresh, every agent poll
 * (LIFEBOAT_HEALTH_POLL_SECONDS), every drill result and every agent job the dashboard follows.
 */

/** The rules' thresholds from the environment. */
export function ruleConfigFromEnv(env: DashboardEnv): RuleConfig {
  return {
    ...DEFAULT_RULE_CONFIG,
    agentDownMs: env.LIFEBOAT_AGENT_DOWN_MINUTES * 60_000,
    compactionLagWarning: env.LIFEBOAT_COMPACTION_LAG_WARNING,
    walWarningBytes: env.LIFEBOAT_WAL_WARNING_MB * 1e6,
    resolveAfterMs: env.LIFEBOAT_ALERT_RESOLVE_MINUTES * 60_000,
    anomalyThresholds: thresholdsFromEnv(env),
  };
}

/** Where notification links point: LIFEBOAT_PUBLIC_URL, else the address the dashboard listens on. */
export function publicUrl(env: DashboardEnv): string {
  if (env.LIFEBOAT_PUBLIC_URL) return env.LIFEBOAT_PUBLIC_URL.replace(/\/+$/, "");
  const host = env.LIFEBOAT_HOST === "0.0.0.0" || env.LIFEBOAT_HOST === "::" ? "127.0.0.1" : env.LIFEBOAT_HOST;
  return `http://${host.includes(":") ? `[${host}]` : host}:${env.PORT}`;
}

/** The notifier (one per process): channels from the environment and the settings page. Throws ConfigError for a bad LIFEBOAT_* channel variable. */
export function notifier(): Notifier {
  return singleton("notify.notifier", () => {
    const { env, db } = serverContext();
    const n = new Notifier({ db, log: logger("notify"), envChannels: envChannels(env), publicUrl: publicUrl(env) });
    n.start();
    return n;
  });
}

/** The agent watch (one per process), polling the configured agent. */
export function agentWatch(): AgentWatch {
  return singleton("alerts.agentWatch", () => {
    const { env, db } = serverContext();
    return new AgentWatch({
      db,
      agent: configuredAgentOrNull,
      log: logger("agent-watch"),
      pollMs: env.LIFEBOAT_HEALTH_POLL_SECONDS * 1000,
      onPolled: () =>
        void alertService()
          .evaluate("agent poll")
          .catch(() => {}),
    });
  });
}

/** The alert service (one per process). Throws ConfigError when the catalog's or a channel's configuration is invalid. */
export function alertService(): AlertService {
  return singleton("alerts.service", () => {
    const { env, db } = serverContext();
    const catalog = catalogService();
    const log = logger("alerts");
    // The growth alert's summary leads with the first line of the set's explanation (lib/statistics).
    const sources = catalogSources(
      catalog,
      db,
      () => agentWatch().input(),
      (sets) => {
        const byId = new Map(catalog.view().sets.map((s) => [s.id, s]));
        return statisticsService().firstLines(sets.flatMap((s) => byId.get(s.id) ?? []));
      },
    );
    const svc = new AlertService({ db, notifier: notifier(), sources, config: ruleConfigFromEnv(env), log });
    catalog.onRefreshed(() => svc.evaluate("catalog refresh").catch((err: unknown) => log.error({ err }, "alert evaluation failed")));
    return svc;
  });
}

/**
 * Starts the alerts' background work (idempotent): the agent poll, and one evaluation now. A
 * configuration error is logged, not thrown: the pages say what is wrong.
 */
export function startAlerts(): void {
  try {
    const svc = alertService();
    agentWatch().start();
    void svc.evaluate("start").catch((err: unknown) => logger("alerts").error({ err }, "alert evaluation failed"));
  } catch (err) {
    if (hasErrorCode(err, "config")) logger("alerts").error({ err: err.message }, "alerts are off: the configuration is invalid");
    else throw err;
  }
}

/** After a restore drill ended: evaluate, and ping the dead-man's switch when it passed. */
export function alertsAfterDrill(setId: string, state: "verified" | "failed"): void {
  try {
    if (state === "verified") notifier().heartbeat("drill", setId);
    void alertService()
      .evaluate("drill")
      .catch(() => {});
  } catch (err) {
    if (!hasErrorCode(err, "config")) throw err;
  }
}

/** After the dashboard saw an agent backup job end: read the agent's backup record again, then evaluate. */
export function alertsAfterAgentJob(job: Job): void {
  if (job.type !== "backup" || job.state === "running" || job.state === "queued") return;
  // The page polls a finished job more than once: act on each job once.
  const seen = singleton("alerts.seenAgentJobs", () => new Set<string>());
  if (seen.has(job.id)) return;
  seen.add(job.id);
  try {
    const svc = alertService();
    void agentWatch()
      .refreshBackups()
      .then(() => svc.evaluate("agent job"))
      .catch(() => {});
  } catch (err) {
    if (!hasErrorCode(err, "config")) throw err;
  }
}

/** After a channel or a preference changed on the settings page: audit it and evaluate, so alerts firing now reach a new channel. */
export function notificationsChanged(action: string, target: string | null, detail?: Record<string, unknown>): void {
  audit(serverContext().db, `notifications.${action}`, target, "ok", detail);
  void alertService()
    .evaluate("notification settings changed")
    .catch(() => {});
}
