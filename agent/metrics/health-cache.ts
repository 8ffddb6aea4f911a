import type { HealthReport } from "../../lib/contracts/agent-health";
import type { AgentDeps } from "../module";

// The newest health report of each agent instance (tests run several in one process), for /metrics:
// a scrape must not copy and check the database, so it shows the newest check's findings.
const latest = new WeakMap<AgentDeps, HealthReport>();

/** Keeps `report` as the newest one of this agent. */
export function rememberHealth(deps: AgentDeps, report: HealthReport): void {
  latest.set(deps, report);
}

/** The newest health report of this agent, or undefined before the first check since it started. */
export function latestHealth(deps: AgentDeps): HealthReport | undefined {
  return latest.get(deps);
}
