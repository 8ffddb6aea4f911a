import "server-only";
import type { Logger } from "pino";
import type { Db } from "../db/database";
import { StorageError, NotFoundError, type BackupStore } from "../storage";
import { groupObjects, setFolder, type BackupSet } from "../backups/grouping";
import { detectAnomalies, DEFAULT_THRESHOLDS, type AnomalyThresholds } from "../backups/anomalies";
import { sizeChartData, type SizeChartData } from "../backups/series";
import { BackupManifest } from "../contracts/manifest";
import {
  CATALOG_FILTERS,
  type CatalogFilter,
  type CatalogResponse,
  type CatalogSet,
  type CatalogSetDetail,
  type CatalogStatus,
  type ManifestState,
  type NestedSet,
  type OtherObject,
  type Verification,
} from "../contracts/catalog";
import { CatalogCache, type CachedObject, type DiffResult, type SourceState } from "./catalog-cache";
import type { StoreLocation } from "./config";
import { coveredBy, incrementalRanges, type ListRange } from "./incremental";

/** Everything the pages show, computed once per change of the listing (and once a minute for staleness). */
export interface CatalogView {
  /** Newest first, with anomalies. */
  sets: CatalogSet[];
  other: OtherObject[];
  /**
   * Sets in a folder below the store (another cluster's under a longer prefix, a copy kept by hand),
   * by folder, newest first: listed apart, never judged, drilled or proposed (`setFolder`).
   */
  nested: NestedSet[];
  chart: SizeChartData;
  counts: Record<CatalogFilter, number>;
  computedAt: Date;
  /**
   * A cold start's listing still running: the sets are only the pages listed so far (progress, not
   * the store's state), so intervals and staleness are not judged and alert rules over sets wait.
   */
  partial: boolean;
}

export interface CatalogServiceOptions {
  db: Db;
  /** null when no bucket is configured: every refresh then reports "not_configured". */
  store: BackupStore | null;
  location: StoreLocation;
  thresholds?: AnomalyThresholds;
  refreshIntervalMs: number;
  /**
   * How often a refresh lists the whole store (deletions, objects overwritten in place, stray names)
   * instead of only what is new (default 1 hour). The first refresh after start is always full.
   */
  reconcileIntervalMs?: number;
  log: Logger;
  now?: () => Date;
  /**
   * How long a page waits for the very first listing before rendering what it has, with the
   * listing's progress (default 2.5 s: a small bucket is listed by then, a big one shows progress).
   */
  firstLoadWaitMs?: number;
  /** Restore-drill results per set id (lib/restore), laid over the sets each time they are read. */
  verifications?: () => ReadonlyMap<string, Verification>;
}

export interface RefreshOutcome extends DiffResult {
  ok: boolean;
  ms: number;
  objects: number;
  /** A full listing (reconcile) or only what is new after the newest known key of each name series. */
  full: boolean;
  /** List requests made. */
  requests: number;
}

/** Options of refresh(). */
export interface RefreshOptions {
  /** List the whole store (the Refresh button; the hourly reconcile) rather than only what is new. */
  full?: boolean;
}

// Staleness depends on the clock: recompute the view at least this often even when nothing changed.
const RECOMPUTE_MS = 60_000;
/** Manifests are small JSON documents; anything bigger is not one of ours. */
const MANIFEST_MAX_BYTES = 4 * 1024 * 1024;

/**
 * The dashboard's backup catalog: the store's listing cached in SQLite, refreshed on an interval and
 * on demand (one refresh at a time; callers share it), turned into sets with anomalies. A failed
 * refresh keeps the last good listing and records the error for the banner. Never throws from
 * refresh(): failures are state (a failure lifeboat.db cannot take, e.g. while it is write-locked,
 * is kept in memory for the banner). Only a complete listing is written to the cache: a cold
 * start's pages are shown as progress from memory and dropped when the listing fails.
 */
export class CatalogService {
  private readonly cache: CatalogCache;
  private readonly thresholds: AnomalyThresholds;
  private readonly now: () => Date;
  private mirror: Map<string, CachedObject> | null = null;
  /** A cold start's pages listed so far: shown instead of the (empty) mirror, never written to the cache. */
  private provisional: Map<string, CachedObject> | null = null;
  /** The last failure when lifeboat.db could not record it; cleared when a refresh succeeds or a failure is recorded. */
  private unrecorded: SourceState["error"] = null;
  private version = 0;
  private computed: { version: number; view: CatalogView; byId: Map<string, number> } | null = null;
  private inflight: Promise<RefreshOutcome> | null = null;
  private inflightFull = false;
  /** A full refresh asked for while an incremental one ran: it runs next, callers share it. */
  private queuedFull: Promise<RefreshOutcome> | null = null;
  /** When the last full listing succeeded (ms); null: none yet in this process. */
  private lastFullAt: number | null = null;
  private listing: { objects: number; startedAt: string } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private firstLoad: Promise<unknown> | null = null;
  /** When this service was made: the stable time of the "not configured" state. */
  private readonly createdAt: string;
  private readonly listeners = new Set<(outcome: RefreshOutcome) => void | Promise<unknown>>();

  constructor(private readonly opts: CatalogServiceOptions) {
    this.cache = new CatalogCache(opts.db, opts.store?.description ?? "none");
    this.thresholds = opts.thresholds ?? DEFAULT_THRESHOLDS;
    this.now = opts.now ?? (() => new Date());
    this.createdAt = this.now().toISOString();
  }

  /** The cache key of this store: its description (`s3://bucket/prefix at endpoint`). */
  get source(): string {
    return this.cache.source;
  }

  /** Starts refreshing every refreshIntervalMs (the timer does not keep the process alive). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.refresh(), this.opts.refreshIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The cache's refresh state with a failure it could not record laid over it. */
  private state(): SourceState {
    const s = this.cache.state();
    const u = this.unrecorded;
    if (!u) return s;
    return { ...s, attemptedAt: s.attemptedAt && s.attemptedAt > u.at ? s.attemptedAt : u.at, error: u };
  }

  status(): CatalogStatus {
    const s = this.state();
    return {
      configured: this.opts.store !== null,
      source: this.source,
      endpoint: this.opts.location.endpoint,
      bucket: this.opts.location.bucket,
      prefix: this.opts.location.prefix,
      refreshedAt: s.refreshedAt,
      attemptedAt: s.attemptedAt,
      refreshing: this.inflight !== null,
      objectCount: s.objectCount,
      refreshIntervalSeconds: this.opts.refreshIntervalMs / 1000,
      listing: this.listing ? { ...this.listing } : null,
      error: this.opts.store
        ? s.error
        : {
            failure: "not_configured",
            message:
              "No backup store is configured: set AWS_S3_BUCKET (and AWS_S3_ENDPOINT for a non-AWS store), or run `npm start` without them for the demo.",
            at: this.createdAt,
          },
    };
  }

  /**
   * Calls `listener` after every refresh, failed or not (alerts re-evaluate); refresh() resolves once
   * the listeners have (so "refresh now" answers with the alerts up to date). Returns how to unsubscribe.
   */
  onRefreshed(listener: (outcome: RefreshOutcome) => void | Promise<unknown>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Lists the store — only what is new, or all of it when asked (`full`), on the first refresh and
   * once per reconcile interval — and applies the differences to the cache. Concurrent calls share
   * one listing (a full one asked for during an incremental one runs right after it). Resolves with
   * what changed; on failure records the error (the cached listing stays) and resolves with ok: false.
   */
  refresh(opts: RefreshOptions = {}): Promise<RefreshOutcome> {
    const reconcileMs = this.opts.reconcileIntervalMs ?? 3_600_000;
    const full = opts.full === true || this.lastFullAt === null || this.now().getTime() - this.lastFullAt >= reconcileMs;
    if (this.inflight && full && !this.inflightFull) {
      this.queuedFull ??= this.inflight.then(() => {
        this.queuedFull = null;
        return this.refresh({ full: true });
      });
      return this.queuedFull;
    }
    if (this.inflight) return this.inflight;
    this.inflightFull = full;
    this.inflight = this.doRefresh(full)
      .finally(() => {
        this.inflight = null;
        this.listing = null;
      })
      .then(async (outcome) => {
        const results = await Promise.allSettled([...this.listeners].map(async (l) => l(outcome)));
        for (const r of results) if (r.status === "rejected") this.opts.log.warn({ err: r.reason }, "a refresh listener failed");
        return outcome;
      });
    return this.inflight;
  }

  private async doRefresh(full: boolean): Promise<RefreshOutcome> {
    const started = Date.now();
    const log = this.opts.log;
    const at = () => this.now().toISOString();
    const store = this.opts.store;
    let requests = 0;
    const failed = { ok: false, ms: 0, objects: 0, added: 0, changed: 0, removed: 0, full, requests };
    if (!store) return failed;
    this.listing = { objects: 0, startedAt: at() };
    try {
      const mirror = this.loadMirror();
      // Nothing known: a cold start lists everything, and shows each page as it comes (from memory).
      const cold = mirror.size === 0;
      const ranges: ListRange[] | null = full || cold ? null : incrementalRanges(mirror.keys());
      const listing = new Map<string, CachedObject>();
      for (const range of ranges ?? [{ prefix: "" }]) {
        let cursor: string | undefined;
        do {
          const page = await store.list({ prefix: range.prefix || undefined, startAfter: range.startAfter, cursor });
          requests++;
          const rows = page.objects.map((o) => ({ key: o.key, size: o.size, lastModified: o.lastModified.toISOString() }));
          for (const o of rows) listing.set(o.key, o);
          this.listing.objects = listing.size;
          if (cold) this.showProgress(rows);
          cursor = page.nextCursor;
        } while (cursor);
      }
      // A cold start compares with the cache's rows, not the (empty) mirror: rows an interrupted cold
      // start of an older version left there are replaced by this listing.
      const current = cold ? new Map(this.cache.objects().map((o) => [o.key, o])) : mirror;
      const covers = ranges ? coveredBy(ranges) : undefined;
      const diff = this.cache.apply([...listing.values()], current, at(), { covers });
      this.unrecorded = null;
      if (diff.added || diff.changed || diff.removed || cold) {
        const next = new Map(current);
        for (const key of current.keys()) if ((!covers || covers(key)) && !listing.has(key)) next.delete(key);
        for (const o of listing.values()) next.set(o.key, o);
        this.mirror = next;
        this.provisional = null;
        this.version++;
      }
      if (!ranges) this.lastFullAt = this.now().getTime();
      const ms = Date.now() - started;
      const objects = this.mirror!.size;
      log.info({ source: this.source, objects, listed: listing.size, full: !ranges, requests, ...diff, ms }, "catalog refreshed");
      return { ok: true, ms, objects, ...diff, full: !ranges, requests };
    } catch (err) {
      // Back to the last good listing: a cold start's pages were progress, not the store's state.
      if (this.provisional) {
        this.provisional = null;
        this.version++;
      }
      const failure = err instanceof StorageError ? err.failure : err instanceof NotFoundError ? "no_bucket" : isSqliteError(err) ? "cache" : "other";
      const message = err instanceof Error ? err.message : String(err);
      this.recordFailure(failure, message, at());
      log.warn({ err, source: this.source, failure }, "catalog refresh failed; keeping the last good listing");
      return { ...failed, ms: Date.now() - started, objects: this.mirror?.size ?? 0, requests };
    }
  }

  /** Records a failed refresh for the banner; when lifeboat.db cannot take it (locked), keeps it in memory. */
  private recordFailure(failure: string, message: string, at: string): void {
    try {
      this.cache.recordFailure(failure, message, at);
      this.unrecorded = null;
    } catch (err) {
      this.unrecorded = { failure, message, at };
      this.opts.log.error({ err, source: this.source, failure }, "could not record the catalog's failure in lifeboat.db; showing it from memory");
    }
  }

  /** A cold start's page, added to the view at once (the cache gets the listing only once it is complete). */
  private showProgress(rows: CachedObject[]): void {
    this.provisional ??= new Map();
    for (const o of rows) this.provisional.set(o.key, o);
    if (rows.length) this.version++;
  }

  /**
   * The last good listing, read from the cache once. Rows of a source that never finished a listing
   * are what an interrupted cold start of an older version wrote page by page: not a listing, so none.
   */
  private loadMirror(): Map<string, CachedObject> {
    this.mirror ??= this.cache.state().refreshedAt ? new Map(this.cache.objects().map((o) => [o.key, o])) : new Map();
    return this.mirror;
  }

  /**
   * Makes sure a caller has something to show: the first time (nothing ever listed or tried) it
   * waits for a refresh, up to `waitMs` (default firstLoadWaitMs) — a page then renders with the
   * listing's progress; afterwards it only starts a background refresh when the last attempt is
   * older than the refresh interval.
   */
  async ensureLoaded(opts: { waitMs?: number } = {}): Promise<void> {
    const s = this.state();
    if (!s.refreshedAt && !s.attemptedAt && this.opts.store) {
      this.firstLoad ??= this.refresh();
      const wait = opts.waitMs ?? this.opts.firstLoadWaitMs ?? 2500;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.firstLoad, new Promise((r) => (timer = setTimeout(r, wait)))]);
      clearTimeout(timer);
      return;
    }
    const last = s.attemptedAt ? Date.parse(s.attemptedAt) : 0;
    if (this.now().getTime() - last > this.opts.refreshIntervalMs) void this.refresh();
  }

  /** The catalog as pages show it (computed from the cache; cheap when nothing changed). */
  view(): CatalogView {
    const partial = this.provisional !== null;
    const mirror = this.provisional ?? this.loadMirror();
    const now = this.now();
    if (this.computed && this.computed.version === this.version && now.getTime() - this.computed.view.computedAt.getTime() < RECOMPUTE_MS) {
      return this.computed.view;
    }
    const grouped = groupObjects(mirror.values());
    // The agent writes at the store's top: a set in a folder is not this store's (lib/backups/grouping.ts setFolder).
    const sets = grouped.sets.filter((s) => setFolder(s) === null);
    const nested = grouped.sets
      .filter((s) => setFolder(s) !== null)
      .map((s) => ({ folder: setFolder(s)!, id: s.id, format: s.format, timestamp: s.time.toISOString(), objects: s.objects, missing: s.missing }))
      .sort((a, b) => (a.folder < b.folder ? -1 : a.folder > b.folder ? 1 : 0));
    const anomalies = detectAnomalies(sets, { thresholds: this.thresholds, now, partial });
    const catalogSets = sets.map((s) => toCatalogSet(s, anomalies.get(s.id) ?? []));
    const counts = Object.fromEntries(CATALOG_FILTERS.map((f) => [f, 0])) as Record<CatalogFilter, number>;
    for (const s of catalogSets) for (const f of CATALOG_FILTERS) if (matches(s, f)) counts[f]++;
    const view: CatalogView = { sets: catalogSets, other: grouped.other, nested, chart: sizeChartData(sets, anomalies), counts, computedAt: now, partial };
    this.computed = { version: this.version, view, byId: new Map(catalogSets.map((s, i) => [s.id, i])) };
    return view;
  }

  /** One page of sets matching `flag`, newest first. `limit` null means all. */
  page(opts: { flag?: CatalogFilter; offset?: number; limit?: number | null } = {}): { sets: CatalogSet[]; total: number } {
    const flag = opts.flag ?? "all";
    const all = this.view().sets;
    const matching = flag === "all" ? all : all.filter((s) => matches(s, flag));
    const offset = Math.max(0, opts.offset ?? 0);
    const end = opts.limit === null || opts.limit === undefined ? undefined : offset + opts.limit;
    return { sets: this.withVerification(matching.slice(offset, end)), total: matching.length };
  }

  /** Sets with their restore-drill state ("not-verified" when there is none), read now: drills finish between listings. */
  private withVerification(sets: CatalogSet[]): CatalogSet[] {
    if (!this.opts.verifications) return sets;
    const v = this.opts.verifications();
    return sets.map((s) => ({ ...s, verification: v.get(s.id) ?? { state: "not-verified", at: null, reason: null } }));
  }

  /** GET /api/backups: the catalog JSON (all sets unless `limit` is given). */
  response(opts: { flag?: CatalogFilter; offset?: number; limit?: number | null } = {}): CatalogResponse {
    const view = this.view();
    const status = this.status();
    const { sets, total } = this.page(opts);
    return {
      sets,
      other: view.other,
      nested: view.nested,
      refreshedAt: status.refreshedAt,
      source: status.source,
      error: status.error,
      total,
      offset: opts.offset ?? 0,
      limit: opts.limit ?? null,
      flag: opts.flag ?? "all",
      counts: view.counts,
    };
  }

  /** A set and its neighbours in time; null when there is no such set. */
  findSet(id: string): { set: CatalogSet; newerId: string | null; olderId: string | null } | null {
    const view = this.view();
    const i = this.computed!.byId.get(id);
    if (i === undefined) return null;
    return { set: this.withVerification([view.sets[i]])[0], newerId: view.sets[i - 1]?.id ?? null, olderId: view.sets[i + 1]?.id ?? null };
  }

  /** GET /api/backups/:id — the set, its neighbours and its manifest; null when there is no such set. */
  async detail(id: string): Promise<CatalogSetDetail | null> {
    const found = this.findSet(id);
    if (!found) return null;
    return { ...found, manifest: await this.manifest(found.set) };
  }

  /**
   * Reads and validates a set's `lifeboat_*_manifest.json` (cached once read: manifests never change
   * in place). Never throws: a missing, invalid or unreadable manifest is a state with a message.
   */
  async manifest(set: CatalogSet): Promise<ManifestState> {
    const obj = set.objects.find((o) => o.kind === "manifest");
    if (!obj) return { state: "absent" };
    let body = this.cache.manifest(obj.key, obj.size, obj.lastModified);
    if (body === null) {
      if (!this.opts.store) return { state: "unavailable", message: "No backup store is configured." };
      if (obj.size > MANIFEST_MAX_BYTES) return { state: "invalid", message: `${obj.key} is ${obj.size} bytes: too big to be a Lifeboat manifest.` };
      try {
        const stream = await this.opts.store.get(obj.key);
        const chunks: Buffer[] = [];
        let n = 0;
        for await (const c of stream) {
          n += (c as Buffer).length;
          if (n > MANIFEST_MAX_BYTES) {
            stream.destroy();
            return { state: "invalid", message: `${obj.key} is larger than ${MANIFEST_MAX_BYTES} bytes: not a Lifeboat manifest.` };
          }
          chunks.push(c as Buffer);
        }
        body = Buffer.concat(chunks).toString("utf8");
      } catch (err) {
        this.opts.log.warn({ err, key: obj.key }, "could not read a manifest");
        return { state: "unavailable", message: `Could not read ${obj.key}: ${err instanceof Error ? err.message : String(err)}` };
      }
    }
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      return { state: "invalid", message: `${obj.key} is not JSON.` };
    }
    const parsed = BackupManifest.safeParse(json);
    if (!parsed.success) {
      const first = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
      return { state: "invalid", message: `${obj.key} is not a valid Lifeboat manifest (${first.join("; ")}).` };
    }
    this.cache.saveManifest(obj.key, obj.size, obj.lastModified, body);
    return { state: "ok", manifest: parsed.data };
  }
}

/** better-sqlite3's errors (SQLITE_BUSY when lifeboat.db is locked past busy_timeout, SQLITE_FULL, …). */
function isSqliteError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_");
}

function toCatalogSet(s: BackupSet, anomalies: CatalogSet["anomalies"]): CatalogSet {
  return { id: s.id, format: s.format, timestamp: s.time.toISOString(), objects: s.objects, missing: s.missing, anomalies };
}

/** Whether a set belongs under a history filter. */
export function matches(s: CatalogSet, f: CatalogFilter): boolean {
  switch (f) {
    case "all":
      return true;
    case "flagged":
      return s.anomalies.length > 0;
    case "critical":
    case "warning":
      return s.anomalies.some((a) => a.level === f);
    case "incomplete":
      return s.missing.length > 0;
    default:
      return s.anomalies.some((a) => a.type === f);
  }
}
