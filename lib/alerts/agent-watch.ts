import "server-only";
import type { Logger } from "pino";
import { kvDelete, kvGet, kvSet, type Db } from "../db/database";
import { isAgentError, type AgentClient } from "../agent/agent-client";
import type { HealthReport } from "../contracts/agent-health";
import type { AgentInput } from "./rules/types";

/**
 * Polls the agent's GET /health and GET /backups/last every LIFEBOAT_HEALTH_POLL_SECONDS (default
 * 300) and keeps what the alert rules need: the newest report, whether the newest poll got one,
 * since when the agent does not answer (kept in `kv`, so a dashboard restart does not restart the
 * clock of LifeboatAgentUnreachable), and the record of its last backups.
 */

export interface AgentWatchOptions {
  db: Db;
  /** The configured agent, or null. */
  agent: () => AgentClient | null;
  log: Logger;
  pollMs: number;
  /** Called after every poll (the alert service evaluates). */
  onPolled?: () => void;
  now?: () => Date;
}

const SINCE_KEY = "alerts:agent:unreachableSince";

export class AgentWatch {
  private health: HealthReport | null = null;
  private healthFresh = false;
  private lastError: string | null = null;
  private lastErrorCode: string | null = null;
  private backups: AgentInput["backups"] = null;
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private polledAt: string | null = null;
  private readonly now: () => Date;

  constructor(private readonly opts: AgentWatchOptions) {
    this.now = opts.now ?? (() => new Date());
  }

  /** Polls now and every pollMs (the timer does not keep the process alive). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.poll(), this.opts.pollMs);
    this.timer.unref();
    void this.poll();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One poll (concurrent calls share it). Never rejects: failures are state. */
  poll(): Promise<void> {
    this.polling ??= this.doPoll().finally(() => {
      this.polling = null;
    });
    return this.polling;
  }

  private get since(): string | null {
    return kvGet(this.opts.db, SINCE_KEY);
  }

  private set since(v: string | null) {
    if (v === null) kvDelete(this.opts.db, SINCE_KEY);
    else kvSet(this.opts.db, SINCE_KEY, v, { onlyIfAbsent: true });
  }

  private async doPoll(): Promise<void> {
    const agent = this.opts.agent();
    this.polledAt = this.now().toISOString();
    if (!agent) {
      this.since = null;
      return;
    }
    try {
      this.health = await agent.health();
      this.healthFresh = true;
      this.lastError = null;
      this.lastErrorCode = null;
      this.since = null;
      await this.refreshBackups();
    } catch (err) {
      this.healthFresh = false;
      this.lastError = err instanceof Error ? err.message : String(err);
      this.lastErrorCode = isAgentError(err) ? err.code : null;
      // No answer, or an answer that refuses the dashboard: the agent is as good as gone. One that
      // answers /livez but not /health in time (agent_slow) is busy: it stays up.
      const gone = isAgentError(err) && ((err.agentStatus === 0 && err.code !== "agent_slow") || err.code === "agent_auth");
      if (gone) this.since ??= this.polledAt;
      this.opts.log.warn({ err: this.lastError, gone }, "agent health poll failed");
    } finally {
      this.opts.onPolled?.();
    }
  }

  /** Reads the agent's backup record again (after a backup job ended), without a health check. */
  async refreshBackups(): Promise<void> {
    const agent = this.opts.agent();
    if (!agent) return;
    // An agent without the record (older than issue 12) or a failed read: the rule keeps its state.
    this.backups = await agent.lastBackups().then(
      (b) => ({ lastSuccessAt: b.lastSuccess?.at ?? null, lastFailureAt: b.lastFailure?.at ?? null, lastFailureError: b.lastFailure?.error ?? null }),
      () => null,
    );
  }

  /** Whether the newest poll reached the agent (for /api/metrics); null before the first poll or without an agent. */
  up(): boolean | null {
    if (!this.opts.agent() || !this.polledAt) return null;
    return this.since === null;
  }

  /** What the rules see. */
  input(): AgentInput {
    const agent = this.opts.agent();
    return {
      configured: agent !== null,
      url: agent?.baseUrl ?? null,
      health: this.health,
      healthFresh: this.healthFresh,
      unreachableSince: agent ? this.since : null,
      lastError: this.lastError,
      lastErrorCode: this.lastErrorCode,
      backups: this.backups,
    };
  }
}
