import "server-only";
import type { Logger } from "pino";
import type { AgentClient } from "../agent/agent-client";
import type { CatalogSet, ManifestState } from "../contracts/catalog";
import type { Explanation, SetStatistics, StatisticsColumns } from "../contracts/set-statistics";
import type { KineStats } from "../contracts/manifest";
import { baselineOf, explainable, explainSet, explanationFirstLine, type ExplainedSet, type LiveDatabase, type MissingStatistics } from "../backups/explain";
import { setStatisticsFrom, statisticsFromDrill } from "../backups/statistics";
import { SetStatisticsStore, type StatisticsSummary } from "./store";

/**
 * Statistics per backup set and the explanations built on them. Lifeboat sets' statistics are read
 * from their manifests (fetched through the catalog, a few at a time, the first time they are
 * needed); seed sets' arrive from restore drills (the drill service saves them). The explanation
 * itself is the pure lib/backups/explain.ts; this module gathers its inputs: the series, the set
 * and its baseline's statistics, why any are missing, and the live database from the agent.
 */

/** The part of the catalog the statistics need. */
export interface StatisticsCatalogPort {
  sets(): readonly CatalogSet[];
  manifest(set: CatalogSet): Promise<ManifestState>;
}

/** A set's restore drill as far as the statistics care. */
export interface DrillPort {
  state(
    setId: string,
  ): { state: "queued" | "running" | "verified" | "failed"; reason: string | null; stats: KineStats | null; finishedAt: string | null } | null;
  /** Every passed drill that read statistics (one query). */
  passed(): { setId: string; stats: KineStats; finishedAt: string | null }[];
}

export interface StatisticsServiceOptions {
  store: SetStatisticsStore;
  catalog: StatisticsCatalogPort;
  drills: DrillPort;
  /** The configured agent (drills, live statistics); null when there is none. */
  agent: () => AgentClient | null;
  log: Logger;
  now?: () => Date;
  /** How long the live database's statistics are reused (default 5 min: each read snapshots the database on the node). */
  liveTtlMs?: number;
  /** How long an explanation waits for the agent's live statistics before it goes without (default 3 s). */
  liveWaitMs?: number;
}

/** A series as explanations read it (see seriesOf). */
interface SeriesContext {
  sets: Map<string, CatalogSet>;
  /** Position of each set in `explained` (newest first, as the catalog lists them). */
  index: Map<string, number>;
  explained: ExplainedSet[];
  revisions: StatisticsSummary[];
  /** The newest set's timestamp. */
  newest: string;
}

/** The live database is compared only with a set this recent (a week of nightly backups). */
const LIVE_RECENT_MS = 7 * 86_400_000;
/** Manifests read at once while catching up (each is one small GET). */
const MANIFEST_CONCURRENCY = 4;

export class StatisticsService {
  private readonly now: () => Date;
  private syncing: Promise<void> | null = null;
  /** The catalog's sets the last sync went through, and whether old drills were looked at. */
  private syncedFor: readonly CatalogSet[] | null = null;
  private backfilled = false;
  /**
   * Manifests that are not valid ones, by key: not asked again by sync() in this process (the set's
   * page still asks). One the store could not give (unavailable) is asked again at the next sync.
   */
  private readonly unreadable = new Map<string, string>();
  private live: { at: number; value: LiveDatabase | null; pending: Promise<LiveDatabase | null> | null } = { at: 0, value: null, pending: null };

  constructor(private readonly opts: StatisticsServiceOptions) {
    this.now = opts.now ?? (() => new Date());
  }

  get store(): SetStatisticsStore {
    return this.opts.store;
  }

  /** A set's statistics, or null when none are kept. */
  statistics(setId: string): SetStatistics | null {
    return this.opts.store.get(setId);
  }

  /**
   * Fills in what is missing: statistics of every Lifeboat set whose manifest has not been read
   * yet, and (once) of sets whose drill passed before statistics were kept. Concurrent calls share
   * one run; a call with the catalog unchanged since the last one returns at once. Never rejects
   * (an invalid manifest is remembered and skipped).
   */
  sync(): Promise<void> {
    this.syncing ??= this.doSync().finally(() => (this.syncing = null));
    return this.syncing;
  }

  /** sync(), waiting for it at most `ms` (the rest goes on in the background). */
  async syncFor(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.sync(), new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }

  private async doSync(): Promise<void> {
    const sets = this.opts.catalog.sets();
    // The catalog's view is one array until the listing changes (or a minute passes): nothing new to read.
    if (sets === this.syncedFor) return;
    if (!this.backfilled) {
      // Drills that passed before statistics were kept per set (once per process: later drills save their own).
      const have = this.opts.store.origins();
      for (const d of this.opts.drills.passed()) if (!have.has(d.setId)) this.saveFromDrill(d.setId, d.stats, d.finishedAt);
      this.backfilled = true;
    }
    const have = this.opts.store.origins();
    const manifests = sets.filter(
      (s) => s.format === "lifeboat" && !have.has(s.id) && s.objects.some((o) => o.kind === "manifest" && !this.unreadable.has(o.key)),
    );
    let next = 0;
    const worker = async () => {
      while (next < manifests.length) await this.fromManifest(manifests[next++]);
    };
    await Promise.all(Array.from({ length: Math.min(MANIFEST_CONCURRENCY, manifests.length) }, worker));
    this.syncedFor = sets;
  }

  /** Reads a Lifeboat set's manifest (cached by the catalog) into its statistics. Resolves with the manifest's state. */
  private async fromManifest(set: CatalogSet): Promise<ManifestState> {
    const state = await this.opts.catalog.manifest(set).catch((err: unknown): ManifestState => ({ state: "unavailable", message: String(err) }));
    const key = set.objects.find((o) => o.kind === "manifest")?.key;
    if (state.state === "ok") {
      this.opts.store.save(
        setStatisticsFrom(state.manifest.database, { setId: set.id, from: "manifest", takenAt: set.timestamp, recordedAt: this.now().toISOString() }),
      );
    } else if (key && state.state !== "absent") {
      if (state.state === "invalid") this.unreadable.set(key, state.message);
      this.opts.log.warn({ setId: set.id, state: state.state }, "no statistics from this manifest");
    }
    return state;
  }

  /** Keeps the statistics a passed drill read, when the drill finished before statistics were kept per set. */
  private saveFromDrill(setId: string, stats: KineStats, at: string | null): void {
    this.opts.store.save(statisticsFromDrill(setId, stats, at ?? this.now().toISOString()));
  }

  /** A set's statistics, reading its manifest now when it is a Lifeboat set not read yet; else why there are none. */
  private async load(set: CatalogSet): Promise<{ statistics: SetStatistics | null; missing?: MissingStatistics }> {
    const kept = this.opts.store.get(set.id);
    if (kept) return { statistics: kept };
    if (set.format === "lifeboat") {
      if (!set.objects.some((o) => o.kind === "manifest")) return { statistics: null, missing: { why: "no-manifest" } };
      const state = await this.fromManifest(set);
      if (state.state === "ok") return { statistics: this.opts.store.get(set.id) };
      return { statistics: null, missing: state.state === "absent" ? { why: "no-manifest" } : { why: "manifest-unreadable", message: state.message } };
    }
    const d = this.opts.drills.state(set.id);
    if (d?.state === "verified" && d.stats) {
      this.saveFromDrill(set.id, d.stats, d.finishedAt);
      return { statistics: this.opts.store.get(set.id) };
    }
    if (d?.state === "queued" || d?.state === "running") return { statistics: null, missing: { why: "drill-pending" } };
    if (d?.state === "failed") return { statistics: null, missing: { why: "drill-failed", reason: d.reason ?? "no reason was recorded" } };
    return { statistics: null, missing: { why: "not-drilled", agentConfigured: this.opts.agent() !== null } };
  }

  /** One series (format) as the explanation reads it: its sets, and the revisions of those with statistics. */
  private seriesOf(format: CatalogSet["format"]): SeriesContext {
    const sets = this.opts.catalog.sets().filter((s) => s.format === format);
    const ids = new Set(sets.map((s) => s.id));
    return {
      sets: new Map(sets.map((s) => [s.id, s])),
      index: new Map(sets.map((s, i) => [s.id, i])),
      explained: sets.map((s) => ({ id: s.id, time: s.timestamp, flagged: s.anomalies.length > 0, statistics: null })),
      revisions: [...this.opts.store.summaries().values()].filter((p) => ids.has(p.setId)),
      newest: sets.reduce((m, s) => (s.timestamp > m ? s.timestamp : m), ""),
    };
  }

  /**
   * Why a set flagged for its size is the size it is (null for other sets): compared with the newest
   * unflagged set of its series; for the newest set of a recent series, with the live database too
   * when the agent answers within a few seconds. Also says which set lacks statistics a drill would read.
   */
  async explain(
    set: CatalogSet,
    opts: { live?: boolean; syncWaitMs?: number; series?: SeriesContext } = {},
  ): Promise<{ explanation: Explanation | null; needsDrill: string | null }> {
    if (!explainable(set.anomalies)) return { explanation: null, needsDrill: null };
    // When compaction last advanced is told from the whole series: read the manifests not read yet.
    if (!opts.series) await this.syncFor(opts.syncWaitMs ?? 3000);
    const ctx = opts.series ?? this.seriesOf(set.format);
    const i = ctx.index.get(set.id);
    const self = i === undefined ? { id: set.id, time: set.timestamp, flagged: true, statistics: null } : ctx.explained[i];
    // The catalog lists sets newest first: the baseline is the next unflagged one after this set.
    let baseline: ExplainedSet | null = null;
    if (i === undefined) baseline = baselineOf(self, ctx.explained);
    else
      for (let j = i + 1; j < ctx.explained.length && !baseline; j++)
        if (!ctx.explained[j].flagged && ctx.explained[j].time < set.timestamp) baseline = ctx.explained[j];
    const baselineSet = baseline ? ctx.sets.get(baseline.id)! : null;
    const [mine, theirs] = await Promise.all([this.load(set), baselineSet ? this.load(baselineSet) : null]);
    Object.assign(self, mine);
    if (baseline && theirs) Object.assign(baseline, theirs);
    // The live database continues the newest set of a series still being written (not one from an old bucket).
    const current = set.timestamp === ctx.newest && this.now().getTime() - Date.parse(set.timestamp) < LIVE_RECENT_MS;
    const live = opts.live !== false && current && mine.statistics ? await this.liveDatabase() : null;
    const explanation = explainSet({ set: self, series: ctx.explained, revisions: ctx.revisions, live, baseline });
    const needsDrill = !mine.statistics
      ? needsDrillFor(set, mine.missing)
      : baselineSet && !theirs?.statistics
        ? needsDrillFor(baselineSet, theirs?.missing)
        : null;
    return { explanation, needsDrill };
  }

  /** The explanation's first line of each flagged set among `sets` (the history and the Recent flags card), by set id. */
  async firstLines(sets: readonly CatalogSet[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const flagged = sets.filter((x) => explainable(x.anomalies));
    if (!flagged.length) return out;
    await this.syncFor(2000);
    const contexts = new Map<CatalogSet["format"], SeriesContext>();
    for (const s of flagged) {
      if (!contexts.has(s.format)) contexts.set(s.format, this.seriesOf(s.format));
      const { explanation } = await this.explain(s, { live: false, series: contexts.get(s.format) });
      if (explanation) out.set(s.id, explanationFirstLine(explanation));
    }
    return out;
  }

  /** Rows, live keys and compaction lag for the chart, aligned with `setIds` (null where a set has none). */
  columns(setIds: readonly string[]): StatisticsColumns {
    const all = this.opts.store.summaries();
    const pick = (f: (s: NonNullable<ReturnType<typeof all.get>>) => number) => setIds.map((id) => (all.has(id) ? f(all.get(id)!) : null));
    return { rows: pick((s) => s.rowCount), liveKeys: pick((s) => s.liveKeys), compactionLag: pick((s) => s.compactionLag) };
  }

  /** The live database's revisions from the agent (GET /stats), reused for liveTtlMs; null when there is no agent or it does not answer. */
  private async liveDatabase(): Promise<LiveDatabase | null> {
    const agent = this.opts.agent();
    if (!agent) return null;
    const nowMs = this.now().getTime();
    if (nowMs - this.live.at < (this.opts.liveTtlMs ?? 300_000)) return this.live.value;
    this.live.pending ??= agent
      .liveStats()
      .then((l): LiveDatabase => ({
        takenAt: l.takenAt,
        currentRevision: l.stats.currentRevision,
        compactRevision: l.stats.compactRevision,
        compactionLag: l.stats.compactionLag,
      }))
      .catch((err: unknown) => {
        this.opts.log.info({ err: err instanceof Error ? err.message : String(err) }, "live statistics unavailable for the explanation");
        return null;
      })
      .then((value) => {
        this.live = { at: this.now().getTime(), value, pending: null };
        return value;
      });
    let timer: NodeJS.Timeout | undefined;
    const value = await Promise.race([this.live.pending, new Promise<null>((r) => (timer = setTimeout(() => r(null), this.opts.liveWaitMs ?? 3000)))]);
    clearTimeout(timer);
    return value;
  }
}

/** The set a restore drill would give statistics to, when that is what is missing. */
function needsDrillFor(set: CatalogSet, missing: MissingStatistics | undefined): string | null {
  // Verify now needs an agent; without one the explanation says how to configure it instead.
  return set.format === "seed" && ((missing?.why === "not-drilled" && missing.agentConfigured) || missing?.why === "drill-failed") ? set.id : null;
}
