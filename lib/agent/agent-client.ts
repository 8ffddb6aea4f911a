import { z } from "zod";
import { ApiErrorBody } from "../contracts/api-error";
import { Job, JobConflict, JobStarted } from "../contracts/agent-jobs";
import { BackupList, LiveStats, RetentionReport, type RetentionInput, type StartBackupInput } from "../contracts/agent-backup";
import { HealthReport } from "../contracts/agent-health";
import { RecoveryReport, RecoveryStarted, type StartRecoveryInput } from "../contracts/agent-recovery";
import { RestoreList, RestoreRecord, RestoreStarted, type ConfirmRestoreRequest, type StartRestoreInput } from "../contracts/agent-restore";
import type { DashboardEnv } from "../env";

/** A failed call to the agent: `status` 0 means it could not be reached at all. */
export class AgentError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly agentUrl: string,
    /** The agent's whole error body (e.g. `jobId` of a 409 job_running). */
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "AgentError";
  }
}

/**
 * True for an AgentError from any copy of this module. Next.js bundles a module once per route, and
 * a process-wide singleton (globalThis) made by one route may throw another copy's class, so
 * `instanceof` can miss.
 */
export function isAgentError(err: unknown): err is AgentError {
  return err instanceof Error && err.name === "AgentError" && typeof (err as AgentError).status === "number";
}

export interface AgentClientOptions {
  baseUrl: string;
  token: string;
  /** Per-request timeout in ms (default 10 s). */
  timeoutMs?: number;
}

/**
 * Typed HTTP client for the on-node agent. Only the dashboard's server uses it; the browser talks to
 * the dashboard. Every method rejects with AgentError (never with the token in the message).
 */
export class AgentClient {
  readonly baseUrl: string;
  constructor(private readonly opts: AgentClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, "");
  }

  /** Calls `method path` and validates the answer with `schema`. */
  async request<T>(method: "GET" | "POST" | "PUT" | "DELETE", path: string, schema: z.ZodType<T>, body?: unknown, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    const url = this.baseUrl + path;
    const timeout = AbortSignal.timeout(opts.timeoutMs ?? this.opts.timeoutMs ?? 10_000);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${this.opts.token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        cache: "no-store",
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      const why = cause === "TimeoutError" ? "it did not answer in time" : cause === "ECONNREFUSED" ? "connection refused (is the agent running?)" : String(cause);
      throw new AgentError(0, "unreachable", `Cannot reach the agent at ${this.baseUrl}: ${why}.`, this.baseUrl);
    }
    const text = await res.text();
    let json: unknown = undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      // fall through: reported below
    }
    if (!res.ok) {
      const e = ApiErrorBody.safeParse(json);
      if (res.status === 401) throw new AgentError(401, "unauthorized", `The agent at ${this.baseUrl} refused the token: check LIFEBOAT_AGENT_TOKEN.`, this.baseUrl);
      throw new AgentError(res.status, e.success ? e.data.code : "agent_error", e.success ? e.data.message : `The agent answered ${res.status}.`, this.baseUrl, e.success ? (json as Record<string, unknown>) : undefined);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new AgentError(502, "bad_response", `The agent at ${this.baseUrl} answered in an unexpected format (is it the same Lifeboat version?).`, this.baseUrl);
    return parsed.data;
  }

  /** GET /livez without auth semantics beyond the header; true when the agent answers. */
  async alive(): Promise<boolean> {
    try {
      await this.request("GET", "/livez", z.object({ ok: z.boolean() }), undefined, { timeoutMs: 3000 });
      return true;
    } catch {
      return false;
    }
  }

  job(id: string, signal?: AbortSignal): Promise<Job> {
    return this.request("GET", `/jobs/${encodeURIComponent(id)}`, Job, undefined, { signal });
  }

  /**
   * POST /backups. Resolves with the new job's id, or with the running backup's id and
   * `alreadyRunning: true` when one is in progress (409). Rejects with AgentError otherwise.
   */
  async startBackup(req: StartBackupInput = {}): Promise<{ jobId: string; alreadyRunning: boolean }> {
    try {
      const { jobId } = await this.request("POST", "/backups", JobStarted, req);
      return { jobId, alreadyRunning: false };
    } catch (err) {
      const running = err instanceof AgentError && err.status === 409 ? JobConflict.safeParse(err.details) : null;
      if (running?.success) return { jobId: running.data.jobId, alreadyRunning: true };
      throw err;
    }
  }

  /** GET /backups: the sets in the agent's store. */
  listBackups(signal?: AbortSignal): Promise<BackupList> {
    return this.request("GET", "/backups", BackupList, undefined, { signal, timeoutMs: 60_000 });
  }

  /** POST /retention (a dry run unless `dryRun: false`). */
  retention(req: RetentionInput = {}): Promise<RetentionReport> {
    return this.request("POST", "/retention", RetentionReport, req, { timeoutMs: 120_000 });
  }

  /** GET /stats: statistics of the live database, from a fresh snapshot. */
  liveStats(signal?: AbortSignal): Promise<LiveStats> {
    return this.request("GET", "/stats", LiveStats, undefined, { signal, timeoutMs: 60_000 });
  }

  /** GET /health (`full`: with a full integrity_check), including the agent's host name. */
  health(opts: { full?: boolean; signal?: AbortSignal } = {}): Promise<HealthReport> {
    return this.request("GET", `/health${opts.full ? "?integrity=full" : ""}`, HealthReport, undefined, { signal: opts.signal, timeoutMs: opts.full ? 300_000 : 60_000 });
  }

  /** POST /recoveries: starts the recovery ladder on a copy of the live database. Rejects with AgentError (409 job_running). */
  startRecovery(req: StartRecoveryInput = {}): Promise<RecoveryStarted> {
    return this.request("POST", "/recoveries", RecoveryStarted, req);
  }

  /** GET /recoveries/:id (404 while the ladder has not written its report yet). */
  recovery(id: string, signal?: AbortSignal): Promise<RecoveryReport> {
    return this.request("GET", `/recoveries/${encodeURIComponent(id)}`, RecoveryReport, undefined, { signal });
  }

  /** POST /restores (`dryRun: true` is a restore drill). Rejects with AgentError: 409 job_running / restore_state / datastore_busy. */
  startRestore(req: StartRestoreInput): Promise<RestoreStarted> {
    return this.request("POST", "/restores", RestoreStarted, req);
  }

  /** GET /restores/:id, from the agent's on-disk journal (answers across agent restarts). */
  restore(id: string, signal?: AbortSignal): Promise<RestoreRecord> {
    return this.request("GET", `/restores/${encodeURIComponent(id)}`, RestoreRecord, undefined, { signal });
  }

  /** GET /restores, newest first. */
  listRestores(signal?: AbortSignal): Promise<RestoreList> {
    return this.request("GET", "/restores", RestoreList, undefined, { signal });
  }

  /** POST /restores/:id/confirm: stop k3s, swap, owner and mode, start, check. `expectHost` guards against the wrong node. */
  confirmRestore(id: string, body: ConfirmRestoreRequest = {}): Promise<RestoreStarted> {
    return this.request("POST", `/restores/${encodeURIComponent(id)}/confirm`, RestoreStarted, body);
  }

  /** POST /restores/:id/cancel: drops the staged files (only before the swap). */
  cancelRestore(id: string): Promise<RestoreRecord> {
    return this.request("POST", `/restores/${encodeURIComponent(id)}/cancel`, RestoreRecord, {});
  }

  /** POST /restores/:id/rollback: puts the moved-aside database back. */
  rollbackRestore(id: string): Promise<RestoreStarted> {
    return this.request("POST", `/restores/${encodeURIComponent(id)}/rollback`, RestoreStarted, {});
  }

  /** POST /restores/:id/done: the user keeps the restore; rollback is no longer offered. */
  markRestoreDone(id: string): Promise<RestoreRecord> {
    return this.request("POST", `/restores/${encodeURIComponent(id)}/done`, RestoreRecord, {});
  }
}

/** The dashboard's AgentClient from its configuration (LIFEBOAT_AGENT_URL/TOKEN), or null when none is set. */
export function agentClientFromEnv(env: Pick<DashboardEnv, "LIFEBOAT_AGENT_URL" | "agentToken">): AgentClient | null {
  if (!env.LIFEBOAT_AGENT_URL || !env.agentToken) return null;
  return new AgentClient({ baseUrl: env.LIFEBOAT_AGENT_URL, token: env.agentToken });
}
