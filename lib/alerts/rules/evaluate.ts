import type { AlertName } from "../../contracts/alerts";
import { catalogRule, drillRule, newestSets, sizeRules, timingRules } from "./catalog-rules";
import { agentRule, backupJobRule, healthRules, logBytesRules, logLagRule } from "./agent-rules";
import type { AlertCandidate, AlertInput, RuleConfig, RuleOutcome } from "./types";

/**
 * Every built-in rule over one input, and what the outcome changes in the stored alerts. Both pure:
 * the alert service feeds them and writes what they decide.
 */

/** Evaluates every rule (one outcome per alert name). Never throws on well-formed input. */
export function evaluateRules(input: AlertInput, cfg: RuleConfig): RuleOutcome[] {
  const catalog = input.catalog;
  const { byKind, byFormat } = catalog.configured ? newestSets(catalog.sets) : { byKind: new Map(), byFormat: new Map() };
  const setRules = [...sizeRules(input, byKind), ...timingRules(input, byFormat), drillRule(input)];
  return [
    // A listing still under way has only some sets (not the newest, not the ones before): no verdict.
    ...(catalog.partial ? setRules.map((o) => ({ name: o.name, known: false, firing: [] })) : setRules),
    catalogRule(input, cfg),
    backupJobRule(input),
    agentRule(input, cfg),
    ...healthRules(input, cfg),
    logLagRule(input),
    ...logBytesRules(input, cfg),
  ];
}

/** An alert that is firing now, as stored. */
export interface OpenAlert {
  /** The episode's id. */
  id: number;
  key: string;
  name: AlertName;
  severity: AlertCandidate["severity"];
  summary: string;
  setId: string | null;
  node: string | null;
  path: string;
}

/** What an evaluation changes. Only `start`, `escalate` and `resolve` notify anyone. */
export interface Transitions {
  /** Alerts that start firing: a new episode each. */
  start: AlertCandidate[];
  /** Firing alerts whose severity rose (warning → critical): notified again. */
  escalate: { id: number; alert: AlertCandidate }[];
  /** Firing alerts whose words, set or severity (down) changed: stored, not notified. */
  update: { id: number; alert: AlertCandidate }[];
  /** Firing alerts their rule no longer finds (only rules that could judge: `known`). */
  resolve: OpenAlert[];
}

/**
 * Compares the rules' outcome with the alerts firing now. An alert still firing is neither started
 * nor notified again (no storm when a refresh re-evaluates); one whose rule could not judge keeps its state.
 */
export function planTransitions(open: readonly OpenAlert[], outcomes: readonly RuleOutcome[]): Transitions {
  const byKey = new Map(open.map((a) => [a.key, a]));
  const known = new Set<AlertName>();
  const firing = new Map<string, AlertCandidate>();
  for (const o of outcomes) {
    if (o.known) known.add(o.name);
    for (const c of o.firing) if (!firing.has(c.key)) firing.set(c.key, c);
  }
  const t: Transitions = { start: [], escalate: [], update: [], resolve: [] };
  for (const [key, c] of firing) {
    const cur = byKey.get(key);
    if (!cur) t.start.push(c);
    else if (cur.severity === "warning" && c.severity === "critical") t.escalate.push({ id: cur.id, alert: c });
    else if (cur.severity !== c.severity || cur.summary !== c.summary || cur.setId !== c.setId || cur.path !== c.path || cur.node !== c.node)
      t.update.push({ id: cur.id, alert: c });
  }
  for (const a of open) if (!firing.has(a.key) && known.has(a.name)) t.resolve.push(a);
  return t;
}
