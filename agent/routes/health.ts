import { Cron } from "croner";
import { HealthQuery, HealthReport } from "../../lib/contracts/agent-health";
import type { AgentDeps, AgentModule } from "../module";
import { rememberHealth } from "../metrics/health-cache";
import { continuousStatus } from "./continuous";
import { UTC_SCHEDULE } from "../backup/schedule";

// SQLite and the checks load on first use, not at start (an idle agent stays small).
const check = () => import("../health/check");

/** One check at a time: concurrent callers share the running one (each would copy the database). */
const inflight = new Map<string, Promise<HealthReport>>();
function healthOnce(deps: AgentDeps, full: boolean): Promise<HealthReport> {
  const key = full ? "full" : "quick";
  let p = inflight.get(key);
  if (!p) {
    p = check()
      .then(({ runHealthCheck }) => runHealthCheck(deps, { full }))
      .then((report) => {
        rememberHealth(deps, report);
        return report;
      })
      .finally(() => inflight.delete(key));
    inflight.set(key, p);
  }
  return p;
}

let schedule: Cron | null = null;

/** GET /health, and the scheduled full integrity_check (LIFEBOAT_INTEGRITY_SCHEDULE, UTC). */
export const healthModule: AgentModule = {
  name: "health",
  routes(router, deps) {
    router.add({
      method: "GET",
      path: "/health",
      query: HealthQuery,
      response: HealthReport,
      handler: async ({ query }) => ({ ...(await healthOnce(deps, query.integrity === "full")), continuous: continuousStatus(deps) }),
    });
  },
  start(deps) {
    const expr = deps.config.integritySchedule;
    if (!expr) return;
    const log = deps.log.child({ component: "integrity-schedule" });
    try {
      schedule = new Cron(expr, { ...UTC_SCHEDULE, protect: true }, () => {
        healthOnce(deps, true).then(
          (r) => log.info({ ok: r.integrityCheck?.ok, verdict: r.verdict }, "scheduled integrity_check done"),
          (err) => log.error({ err: (err as Error).message }, "scheduled integrity_check failed"),
        );
      });
      log.info({ cron: expr, nextRunAt: schedule.nextRun()?.toISOString() ?? null }, "integrity_check schedule active");
    } catch (err) {
      log.error({ err: (err as Error).message }, `LIFEBOAT_INTEGRITY_SCHEDULE: "${expr}" is not a cron expression; the scheduled integrity_check is off`);
    }
  },
  stop() {
    schedule?.stop();
    schedule = null;
  },
};
