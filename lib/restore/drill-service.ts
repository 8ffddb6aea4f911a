import "server-only";
import type { Logger } from "pino";
import { isAgentError, type AgentClient } from "../agent/agent-client";
import type { RestoreRecord } from "../contracts/agent-restore";
import type { DrillDetail, DrillOverview, DrillRecord } from "./contracts";
import type { DrillStore } from "./drill-store";

/** The part of a catalog set the drill service looks at. */
export interface DrillableSet {
  id: string;
  format: "seed" | "lifeboat";
  timestamp: string;
  missing: readonly string[];
}

export interface DrillServiceOptions {
  store: DrillStore;
  /** The catalog's sets, any order. */
  sets: () => readonly DrillableSet[];
  /** The agent drills run on (the configured one); null when none is configured. */
  agent: () => AgentClient | null;
  log: Logger;
  /**
   * The first time the service sees a store, only its newest `initialNewest` sets are queued (a
   * bucket with years of history would otherwise keep the server busy for hours); every set that
   * appears afterwards is queued. Older sets are verified on "Verify now". Default 7: a week of
   * nightly backups.
   */
  initialNewest?: number;
  /** Called when a drill ends with a result (alerts and the dead-man's switch listen). */
  onFinished?: (setId: string, state: "verified" | "failed") => void;
  /** Drills wait while this returns a reason (the restore wizard is about to use the agent). */
  pausedBecause?: () => string | null;
  /** How often the catalog is looked at for new sets (default 15 s). */
  scanMs?: number;
  /** How often a running drill is polled (default 1 s). */
  pollMs?: number;
  /** How long to wait before asking a busy or unreachable agent again (default 15 s). */
  retryDelayMs?: number;
  /** A drill that takes longer is recorded as failed (default 30 min). */
  drillTimeoutMs?: number;
  now?: () => Date;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number) => n.toLocaleString("en-US");

/** A Lifeboat set is complete (and so worth a drill) once its manifest, written last, is there; a seed set whenever it has an object. */
export function drillable(s: DrillableSet): boolean {
  return s.format === "seed" || !s.missing.includes("manifest");
}

/** What a drill proved, from the agent's record of it. */
export function drillDetail(rec: RestoreRecord): DrillDetail {
  const v = rec.verification;
  return {
    sourceDescription: rec.sourceDescription,
    bytesStaged: rec.bytesStaged,
    integrity: v?.integrity.ok ?? false,
    tokenSource: v?.token.source ?? null,
    tokenFits: v?.token.fits ?? null,
    walReplayed: v?.walReplayed ?? false,
    stats: v?.stats ?? null,
    warnings: v?.warnings ?? [],
    millis: Math.max(0, Date.parse(rec.updatedAt) - Date.parse(rec.createdAt)),
  };
}

/** The one-line summary of a passed drill. */
export function passedReason(d: DrillDetail): string {
  const st = d.stats;
  const token =
    d.tokenSource === "archive"
      ? "the backup's token opens its bootstrap data"
      : d.tokenSource === "host"
        ? "the server's token opens its bootstrap data"
        : "no token needed";
  return `Restore drill passed: downloaded, decrypted and unpacked; integrity_check ok${st ? `; revision ${fmt(st.currentRevision)}, ${fmt(st.rowCount)} rows` : ""}; ${token}.`;
}

/**
 * Proven-restorable backups: for every new set in the catalog, asks the agent for a restore drill
 * (POST /restores with dryRun: stage + verify, nothing on the server changes), ONE AT A TIME, in
 * the background, and records the result in the dashboard's SQLite. A drill the agent is working on
 * survives a dashboard restart (its restore id is saved and followed again). A busy or unreachable
 * agent is retried later; that never counts against the backup.
 */
export class DrillService {
  private readonly store: DrillStore;
  private readonly now: () => Date;
  private timer: NodeJS.Timeout | null = null;
  private pumping: Promise<void> | null = null;
  private retryAt = 0;
  private stopped = false;
  private lastNote: string | null = null;

  constructor(private readonly opts: DrillServiceOptions) {
    this.store = opts.store;
    this.now = opts.now ?? (() => new Date());
  }

  /** Looks for new sets and runs queued drills now and every scanMs (the timer does not keep the process alive). */
  start(): void {
    if (this.timer) return;
    this.stopped = false;
    const tick = () => {
      try {
        this.scan();
      } catch (err) {
        this.opts.log.warn({ err }, "drill scan failed");
      }
      void this.pump();
    };
    this.timer = setInterval(tick, this.opts.scanMs ?? 15_000);
    this.timer.unref();
    tick();
  }

  /** Stops the timer; a drill being followed stops being polled (the agent finishes it; the next start picks it up). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.pumping;
  }

  /** Resolves when no drill is being run or followed (tests). */
  async idle(): Promise<void> {
    while (this.pumping) await this.pumping;
  }

  /** Queues drills for sets that are new since the last scan (the newest `initialNewest` on first sight of a store). Returns how many it queued. */
  scan(): number {
    // Without an agent nothing would run them: queued sets would say "queued" for ever. The first
    // scan once an agent is configured queues the newest sets (no watermark is set until then).
    if (this.opts.agent() === null) return 0;
    const sets = [...this.opts.sets()].filter(drillable).sort((a, b) => b.timestamp.localeCompare(a.timestamp));
    if (!sets.length) return 0;
    const watermark = this.store.getMeta("watermark");
    const fresh = watermark === null ? sets.slice(0, this.opts.initialNewest ?? 7) : sets.filter((s) => s.timestamp > watermark);
    let queued = 0;
    for (const s of fresh) {
      if (this.store.get(s.id)) continue;
      this.store.enqueue(s.id, "auto", this.now());
      queued++;
    }
    // Never past now: a set named by a host clock that ran ahead would otherwise keep every later set from being queued.
    const now = this.now().toISOString();
    const mark = sets[0].timestamp < now ? sets[0].timestamp : now;
    if (watermark === null || mark > watermark) this.store.setMeta("watermark", mark);
    if (queued) this.opts.log.info({ queued }, "restore drills queued for new backup sets");
    return queued;
  }

  /** "Verify now": queues a drill of `setId` ahead of automatic ones and starts the queue. */
  request(setId: string): DrillRecord {
    const rec = this.store.enqueue(setId, "user", this.now());
    this.retryAt = 0;
    void this.pump();
    return rec;
  }

  get(setId: string): DrillRecord | null {
    return this.store.get(setId);
  }

  overview(): DrillOverview {
    const drills = this.store.all();
    const agent = this.opts.agent();
    const paused = this.opts.pausedBecause?.() ?? null;
    return {
      enabled: agent !== null,
      note: agent === null ? "No agent is configured (LIFEBOAT_AGENT_URL), so backups are not verified by restore drills." : (paused ?? this.lastNote),
      paused: paused !== null,
      running: drills.find((d) => d.state === "running")?.setId ?? null,
      queued: drills.filter((d) => d.state === "queued").length,
      drills,
    };
  }

  /** Runs queued drills one at a time until the queue is empty, the agent is busy or away, or drills are paused. Concurrent calls share one run. */
  pump(): Promise<void> {
    this.pumping ??= this.drain().finally(() => {
      this.pumping = null;
    });
    return this.pumping;
  }

  private async drain(): Promise<void> {
    while (!this.stopped) {
      if (this.now().getTime() < this.retryAt) return;
      const paused = this.opts.pausedBecause?.();
      if (paused) return;
      const agent = this.opts.agent();
      if (!agent) return;
      // A drill started before (this process or a previous one) is followed first: one at a time.
      const running = this.store.inState("running")[0];
      if (running) {
        if (!running.restoreId) {
          this.store.requeue(running.setId, null);
          continue;
        }
        if (!(await this.follow(agent, running.setId, running.restoreId, running.startedAt))) return;
        continue;
      }
      const next = this.store.next();
      if (!next) return;
      if (!(await this.runOne(agent, next))) return;
    }
  }

  /** Records a drill's result and tells `onFinished`. */
  private finish(setId: string, state: "verified" | "failed", reason: string, detail: DrillDetail | null, now: Date): void {
    this.store.finish(setId, state, reason, detail, now);
    try {
      this.opts.onFinished?.(setId, state);
    } catch (err) {
      this.opts.log.warn({ err, setId }, "a drill listener failed");
    }
  }

  private backoff(note: string): false {
    this.lastNote = note;
    this.retryAt = this.now().getTime() + (this.opts.retryDelayMs ?? 15_000);
    return false;
  }

  /** Starts one drill and follows it. Resolves false when the queue should wait (agent busy or away). */
  private async runOne(agent: AgentClient, d: DrillRecord): Promise<boolean> {
    const log = this.opts.log.child({ setId: d.setId });
    this.store.markRunning(d.setId, null, this.now());
    let restoreId: string;
    try {
      ({ restoreId } = await agent.startRestore({ source: { kind: "backup", setId: d.setId }, dryRun: true, compareWithLive: false }));
    } catch (err) {
      // Busy (409), away, refusing the token or failing (answered 502): try again later, the set is not at fault.
      if (isAgentError(err) && (err.status === 409 || err.status === 502)) {
        const why = err.status === 409 ? `the agent is busy (${err.message.replace(/\.$/, "")})` : err.message.replace(/\.$/, "");
        this.store.requeue(d.setId, null);
        log.info({ status: err.agentStatus, code: err.code }, "drill postponed");
        return this.backoff(`Restore drills wait: ${why}. Retrying shortly.`);
      }
      // The agent refused this set (e.g. it is not in its store): that is the drill's result.
      const message = err instanceof Error ? err.message : String(err);
      this.finish(d.setId, "failed", message, null, this.now());
      log.warn({ err: message }, "restore drill refused");
      return true;
    }
    this.store.setRestoreId(d.setId, restoreId);
    log.info({ restoreId }, "restore drill started");
    return this.follow(agent, d.setId, restoreId, this.now().toISOString());
  }

  /** Polls the agent's record of a drill until it is finished, then records the result. Resolves false to wait (agent away). */
  private async follow(agent: AgentClient, setId: string, restoreId: string, startedAt: string | null): Promise<boolean> {
    const timeout = this.opts.drillTimeoutMs ?? 30 * 60_000;
    const pollMs = this.opts.pollMs ?? 1000;
    for (;;) {
      if (this.stopped) return false;
      let rec: RestoreRecord;
      try {
        rec = await agent.restore(restoreId);
      } catch (err) {
        if (isAgentError(err) && err.status === 404) {
          // The agent no longer knows this drill (another agent, or its journal was pruned): run it again.
          this.store.requeue(setId, null);
          return true;
        }
        return this.backoff(`Restore drills wait: ${err instanceof Error ? err.message.replace(/\.$/, "") : String(err)}. Retrying shortly.`);
      }
      if (rec.status !== "running") {
        const detail = drillDetail(rec);
        if (rec.status === "succeeded") {
          this.finish(setId, "verified", passedReason(detail), detail, this.now());
          if (detail.stats) this.store.saveStatistics(setId, detail.stats, this.now());
        } else this.finish(setId, "failed", rec.error ?? `The drill ended ${rec.status}.`, detail, this.now());
        this.lastNote = null;
        this.opts.log.info({ setId, restoreId, status: rec.status }, "restore drill finished");
        return true;
      }
      if (startedAt && this.now().getTime() - Date.parse(startedAt) > timeout) {
        this.finish(
          setId,
          "failed",
          `The restore drill did not finish within ${Math.round(timeout / 60_000)} minutes (agent restore ${restoreId}).`,
          null,
          this.now(),
        );
        return true;
      }
      await sleep(pollMs);
    }
  }
}
