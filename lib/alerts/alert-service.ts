import "server-only";
import type { Logger } from "pino";
import { kvGet, kvSet, type Db } from "../db/database";
import type { AlertsResponse, AlertSummary, AlertView } from "../contracts/alerts";
import type { Notifier } from "../notify/notifier";
import { AlertStore, type Episode } from "./alert-store";
import { countsAsBackup } from "../backups/grouping";
import { evaluateRules, planTransitions } from "./rules/evaluate";
import type { AgentInput, CatalogInput, ManifestFacts, RuleConfig, RuleSet } from "./rules/types";

/**
 * Evaluates the alert rules and acts on what they decide — the I/O around the pure rules
 * (lib/alerts/rules): gather the input from the catalog, the drills and the agent, evaluate, store
 * the transitions (lib/alerts/alert-store.ts), tell the notifier. Evaluations run one at a time; a
 * request during one runs once more after it (never in parallel, never skipped).
 */

/** Where the rules' input comes from (wired in lib/alerts/index.ts; tests pass their own). */
export interface AlertSources {
  /** The catalog without manifests; `source` names the store (the heartbeat's watermark is per store). */
  catalog(): Omit<CatalogInput, "manifests"> & { source: string };
  /** The manifests of the newest complete Lifeboat sets among `sets` (newest first, up to 3). */
  manifests(sets: readonly RuleSet[]): Promise<ManifestFacts[]>;
  agent(): AgentInput;
  /** The first line of the growth explanation of each newest set that has one (issue 14), by set id; optional. */
  explanationLines?(sets: readonly RuleSet[]): Promise<Map<string, string>>;
}

export interface AlertServiceOptions {
  db: Db;
  notifier: Notifier;
  sources: AlertSources;
  config: RuleConfig;
  log: Logger;
  now?: () => Date;
}

export interface EvaluationResult {
  started: Episode[];
  escalated: Episode[];
  resolved: Episode[];
  ms: number;
}

const DAY = 86_400_000;

/** Sets that count as backups and are newer than `watermark`, oldest first (the heartbeat pings each). */
export function setsAfter(sets: readonly RuleSet[], watermark: string): RuleSet[] {
  const out: RuleSet[] = [];
  for (const s of sets) {
    if (s.timestamp <= watermark) break;
    if (countsAsBackup(s)) out.push(s);
  }
  return out.reverse();
}

export class AlertService {
  readonly store: AlertStore;
  private readonly now: () => Date;
  private running: Promise<EvaluationResult> | null = null;
  private queued: Promise<EvaluationResult> | null = null;
  private evaluatedAt: string | null = null;

  constructor(private readonly opts: AlertServiceOptions) {
    this.store = new AlertStore(opts.db);
    this.now = opts.now ?? (() => new Date());
  }

  /** Evaluates every rule now, or right after the evaluation that is running. Rejects only on a database error. */
  evaluate(reason: string): Promise<EvaluationResult> {
    if (!this.running) {
      this.running = this.run(reason).finally(() => (this.running = null));
      return this.running;
    }
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = null;
        return this.evaluate(reason);
      });
    return this.queued;
  }

  private async run(reason: string): Promise<EvaluationResult> {
    const t0 = performance.now();
    const { source, ...catalog } = this.opts.sources.catalog();
    let manifests: ManifestFacts[] = [];
    try {
      manifests = await this.opts.sources.manifests(catalog.sets);
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, "could not read the newest manifests; the compaction trend waits");
    }
    let lines = new Map<string, string>();
    try {
      lines = (await this.opts.sources.explanationLines?.(newestPerFormat(catalog.sets))) ?? lines;
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, "could not explain the newest sets; growth alerts say only what grew");
    }
    const explanationLine = catalog.explanationLine ?? ((id: string) => lines.get(id) ?? null);
    const now = this.now();
    const outcomes = evaluateRules({ now, catalog: { ...catalog, explanationLine, manifests }, agent: this.opts.sources.agent() }, this.opts.config);
    const applied = this.store.apply(planTransitions(this.store.open(), outcomes, { now, resolveAfterMs: this.opts.config.resolveAfterMs }), now);
    this.evaluatedAt = now.toISOString();
    for (const e of applied.started) this.opts.log.warn({ alert: e.key, severity: e.severity, reason }, `alert firing: ${e.summary}`);
    for (const e of applied.escalated) this.opts.log.warn({ alert: e.key, severity: e.severity, reason }, `alert escalated: ${e.summary}`);
    for (const e of applied.resolved) this.opts.log.info({ alert: e.key, reason }, "alert resolved");

    const n = this.opts.notifier;
    for (const e of applied.escalated) n.escalated(e, "warning");
    const resolvedSince = new Date(now.getTime() - DAY).toISOString();
    n.reconcile(
      this.store.open(),
      this.store.history(200).filter((e) => (e.resolvedAt ?? "") >= resolvedSince),
    );
    const remindMs = n.remindEveryHours() * 3_600_000;
    for (const e of this.store.dueReminders(now, remindMs)) {
      n.remind(e);
      this.store.markReminded(e.id, now);
    }
    // A cold start's pages so far are no news either: the heartbeat waits for the whole listing.
    if (catalog.configured && !catalog.partial) this.heartbeats(source, catalog.sets);
    return { ...applied, ms: performance.now() - t0 };
  }

  /** Pings the dead-man's switch once for every backup set that appeared since the last evaluation. */
  private heartbeats(source: string, sets: readonly RuleSet[]): void {
    const key = `alerts:heartbeat:watermark:${source}`;
    const db = this.opts.db;
    const newest = sets.find(countsAsBackup)?.timestamp;
    if (!newest) return;
    const watermark = kvGet(db, key);
    // First sight of a store: its history is not news.
    if (watermark !== null) for (const s of setsAfter(sets, watermark)) this.opts.notifier.heartbeat("backup", s.id);
    if (watermark === null || newest > watermark) kvSet(db, key, newest);
  }

  private view(e: Episode, deliveries: AlertView["deliveries"]): AlertView {
    return {
      id: e.id,
      key: e.key,
      name: e.name,
      severity: e.severity,
      state: e.resolvedAt ? "resolved" : "firing",
      summary: e.summary,
      setId: e.setId,
      node: e.node,
      path: e.path,
      startedAt: e.startedAt,
      updatedAt: e.updatedAt,
      resolvedAt: e.resolvedAt,
      deliveries,
    };
  }

  /** Episodes as the API shows them, with where each was delivered. */
  views(episodes: readonly Episode[]): AlertView[] {
    const deliveries = this.opts.notifier.dispatcher.deliveries({ episodeIds: episodes.map((e) => e.id) });
    return episodes.map((e) =>
      this.view(
        e,
        deliveries.filter((d) => d.episodeId === e.id),
      ),
    );
  }

  /** GET /api/alerts: firing (critical first, then oldest) and the newest resolved episodes. */
  response(historyLimit = 100): AlertsResponse {
    const rank = { critical: 0, warning: 1 } as const;
    const firing = this.store.open().sort((a, b) => rank[a.severity] - rank[b.severity] || a.startedAt.localeCompare(b.startedAt));
    return {
      firing: this.views(firing),
      history: this.views(this.store.history(historyLimit)),
      channels: this.opts.notifier.alertChannels(),
      evaluatedAt: this.evaluatedAt,
    };
  }

  /** GET /api/alerts/summary: the navigation's count. */
  summary(): AlertSummary {
    const open = this.store.open();
    return { firing: open.length, critical: open.filter((e) => e.severity === "critical").length };
  }
}

/** The newest set of each format (the growth rule judges only those). */
function newestPerFormat(sets: readonly RuleSet[]): RuleSet[] {
  const seen = new Map<string, RuleSet>();
  for (const s of sets) if (!seen.has(s.format)) seen.set(s.format, s);
  return [...seen.values()];
}
