import type { AlertName } from "../../contracts/alerts";
import { catalogRule, drillRule, newestSets, sizeRules, timingRules } from "./catalog-rules";
import { agentRule, backupJobRule, healthRules, logBytesRules, logLagRule, stateDirRule } from "./agent-rules";
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
    stateDirRule(input),
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
  /** Since when its rule has found it clear (it still fires until that is long enough); null or absent while it fires. */
  clearSince?: string | null;
}

/** What an evaluation changes. Only `start`, `escalate` and `resolve` notify anyone. */
export interface Transitions {
  /** Alerts that start firing: a new episode each. */
  start: AlertCandidate[];
  /** Firing alerts whose severity rose (warning → critical): notified again. */
  escalate: { id: number; alert: AlertCandidate }[];
  /** Firing alerts whose words, set or severity (down) changed: stored, not notified. */
  update: { id: number; alert: AlertCandidate }[];
  /** Firing alerts their rule has not found for `resolveAfterMs` (only rules that could judge: `known`). */
  resolve: OpenAlert[];
  /** Firing alerts their rule no longer finds, not for long enough yet: they keep firing, `clearSince` is set if unset. Not notified. */
  clearing: OpenAlert[];
  /** Alerts that were clearing and fire again: `clearSince` starts over. Not notified (their episode never ended). */
  refiring: OpenAlert[];
}

/** When a clear alert resolves (RuleConfig.resolveAfterMs): `now` and how long it must have been clear. */
export interface ResolveHold {
  now: Date;
  resolveAfterMs: number;
}

/**
 * Compares the rules' outcome with the alerts firing now. An alert still firing is neither started
 * nor notified again (no storm when a refresh re-evaluates); one whose rule could not judge keeps its
 * state. Hysteresis, for every rule here: a new alert fires at once, but one its rule no longer finds
 * resolves only after it has been clear for `hold.resolveAfterMs` (so at least two clear evaluations
 * that far apart); firing again in between starts the wait over. `clearSince` is stored with the
 * episode, so the wait survives a restart.
 */
export function planTransitions(open: readonly OpenAlert[], outcomes: readonly RuleOutcome[], hold: ResolveHold): Transitions {
  const byKey = new Map(open.map((a) => [a.key, a]));
  const known = new Set<AlertName>();
  const firing = new Map<string, AlertCandidate>();
  for (const o of outcomes) {
    if (o.known) known.add(o.name);
    for (const c of o.firing) if (!firing.has(c.key)) firing.set(c.key, c);
  }
  const t: Transitions = { start: [], escalate: [], update: [], resolve: [], clearing: [], refiring: [] };
  for (const [key, c] of firing) {
    const cur = byKey.get(key);
    if (cur?.clearSince) t.refiring.push(cur);
    if (!cur) t.start.push(c);
    else if (cur.severity === "warning" && c.severity === "critical") t.escalate.push({ id: cur.id, alert: c });
    else if (cur.severity !== c.severity || cur.summary !== c.summary || cur.setId !== c.setId || cur.path !== c.path || cur.node !== c.node)
      t.update.push({ id: cur.id, alert: c });
  }
  const now = hold.now.getTime();
  for (const a of open) {
    if (firing.has(a.key) || !known.has(a.name)) continue;
    const since = a.clearSince ? Date.parse(a.clearSince) : now;
    if (now - since >= hold.resolveAfterMs) t.resolve.push(a);
    else t.clearing.push(a);
  }
  return t;
}
