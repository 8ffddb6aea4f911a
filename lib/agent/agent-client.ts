import "server-only";
import { z } from "zod";
import { ContinuousStatus, LogTimeline } from "../contracts/continuous";
import { ApiErrorBody, DomainError, isDomainError, isErrorCode, type ErrorCode } from "../contracts/errors";
import { Job, JobConflict, JobStarted } from "../contracts/agent-jobs";
import { BackupList, BackupOutcome, LiveStats, RetentionReport, type RetentionInput, type StartBackupInput } from "../contracts/agent-backup";
import { HealthReport } from "../contracts/agent-health";
import { RecoveryReport, RecoveryStarted, type StartRecoveryInput } from "../contracts/agent-recovery";
import { RestoreList, RestoreRecord, RestoreStarted, type ConfirmRestoreRequest, type StartRestoreInput } from "../contracts/agent-restore";
import type { DashboardEnv } from "../env";
import { readFileSync } from "node:fs";
import { agentRequest, checkAgentUrl, tlsFromEnv, TransportError, type AgentTls } from "./transport";

/**
 * A failed call to the agent, translated once, here, into the dashboard's error model:
 * - no answer → `agent_unreachable`; the agent refusing the dashboard's token → `agent_auth`
 *   (both 502: the user's browser is not the one that failed); no answer in time from an agent
 *   that still answers /livez → `agent_slow` (it runs, it is busy: not a reason to call it gone);
 * - the agent's own 4xx keep its code and status (its sentence is for the user: "a backup is running");
 * - the agent's 5xx keep its code but are answered 502 (the dashboard's upstream failed);
 * - an answer in a shape this dashboard does not know → `agent_bad_response`.
 * `details.hint` says what to check, in words; `agentStatus` is what the agent answered (0: nothing).
 * Never carries the token.
 */
export class AgentError extends DomainError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly agentUrl: string,
    readonly agentStatus: number,
    details: Record<string, unknown> & { hint: string },
  ) {
    super(code, message, { details });
  }

  override get status(): number {
    return this.agentStatus >= 400 && this.agentStatus < 500 && this.code !== "agent_auth" ? this.agentStatus : 502;
  }
}

/** True for an AgentError from any copy of this module (Next.js bundles one per route). */
export function isAgentError(err: unknown): err is AgentError {
  return isDomainError(err) && typeof (err as Partial<AgentError>).agentStatus === "number";
}

const HINT = {
  tls: "the agent's certificate fingerprint: `lifeboat-agent status` on that machine prints it (LIFEBOAT_AGENT_FINGERPRINT, or the wizard's fingerprint field).",
  unreachable:
    "that the agent runs on that machine (`lifeboat-agent serve`, or its systemd unit), that it listens on this address (LIFEBOAT_AGENT_HOST / LIFEBOAT_AGENT_PORT), and that no firewall blocks the port from the dashboard.",
  auth: "the token: it must be the value of LIFEBOAT_AGENT_TOKEN (or of the file LIFEBOAT_AGENT_TOKEN_FILE) on that machine.",
  version: "that it is a Lifeboat agent of the same version as this dashboard (update one of them).",
  log: "the agent's log on that machine.",
  slow: "nothing on the network: the agent answers /livez. Ask again in a while, or read the agent's log on that machine for what it is doing.",
};

/** The agent's error answer as an AgentError (see the class comment). */
function fromAnswer(status: number, json: unknown, url: string): AgentError {
  if (status === 401) return new AgentError("agent_auth", `The agent at ${url} refused the token: check LIFEBOAT_AGENT_TOKEN.`, url, 401, { hint: HINT.auth });
  const body = ApiErrorBody.safeParse(json);
  if (!body.success) return new AgentError("agent_error", `The agent answered ${status}.`, url, status, { hint: HINT.log });
  const { code, message, ...rest } = body.data;
  // A code this dashboard does not know (a newer agent) still reaches the user, beside a known one.
  if (!isErrorCode(code)) return new AgentError("agent_error", message, url, status, { ...rest, agentCode: code, hint: HINT.log });
  return new AgentError(code, message, url, status, { ...rest, hint: HINT.log });
}

export interface AgentClientOptions {
  baseUrl: string;
  token: string;
  /** Per-request timeout in ms (default 10 s). */
  timeoutMs?: number;
  /** How an https:// agent's certificate is checked (lib/agent/transport.ts). */
  tls?: AgentTls;
  /** Allows http:// to another machine (LIFEBOAT_AGENT_INSECURE_HTTP). */
  allowInsecureHttp?: boolean;
}

/**
 * Typed HTTP client for the on-node agent. Only the dashboard's server uses it; the browser talks to
 * the dashboard. Every method rejects with AgentError (a DomainError; never with the token in it).
 * The constructor throws DomainError `bad_request` for plain HTTP to another machine without consent.
 */
export class AgentClient {
  readonly baseUrl: string;
  constructor(private readonly opts: AgentClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, "");
    checkAgentUrl(this.baseUrl, opts.allowInsecureHttp ?? false);
  }

  /** Calls `method path` and validates the answer with `schema`. */
  async request<T>(
    method: "GET" | "POST" | "PUT" | "DELETE",
    path: string,
    schema: z.ZodType<T>,
    body?: unknown,
    opts: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<T> {
    const url = this.baseUrl + path;
    const timeout = AbortSignal.timeout(opts.timeoutMs ?? this.opts.timeoutMs ?? 10_000);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    let res: { status: number; text: string };
    try {
      const text = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string> = { authorization: `Bearer ${this.opts.token}`, accept: "application/json" };
      if (text !== undefined) Object.assign(headers, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) });
      res = await agentRequest(new URL(url), { method, headers, body: text, signal }, this.opts.tls ?? {});
    } catch (err) {
      if (err instanceof TransportError && err.kind === "tls")
        throw new AgentError("agent_tls", `The dashboard refused the agent at ${this.baseUrl}: ${err.message}.`, this.baseUrl, 0, { hint: HINT.tls });
      // Timed out: an agent that still answers /livez is busy (an integrity_check on a big database), not gone.
      if (timeout.aborted && !opts.signal?.aborted && path !== "/livez" && (await this.alive()))
        throw new AgentError(
          "agent_slow",
          `The agent at ${this.baseUrl} runs but did not answer ${method} ${path} within ${(opts.timeoutMs ?? this.opts.timeoutMs ?? 10_000) / 1000} s: it is busy (a check of a large database, a long job) or its disk is slow.`,
          this.baseUrl,
          0,
          { hint: HINT.slow },
        );
      const why = timeout.aborted
        ? "it did not answer in time"
        : opts.signal?.aborted
          ? "the request was cancelled"
          : err instanceof TransportError
            ? err.message
            : (err as Error).message;
      throw new AgentError("agent_unreachable", `Cannot reach the agent at ${this.baseUrl}: ${why}.`, this.baseUrl, 0, { hint: HINT.unreachable });
    }
    const text = res.text;
    let json: unknown = undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      // fall through: reported below
    }
    if (res.status < 200 || res.status >= 300) throw fromAnswer(res.status, json, this.baseUrl);
    const parsed = schema.safeParse(json);
    if (!parsed.success)
      throw new AgentError(
        "agent_bad_response",
        `The agent at ${this.baseUrl} answered in an unexpected format (is it the same Lifeboat version?).`,
        this.baseUrl,
        res.status,
        { hint: HINT.version },
      );
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
      const running = isAgentError(err) && err.code === "job_running" ? JobConflict.safeParse(err.toBody()) : null;
      if (running?.success) return { jobId: running.data.jobId, alreadyRunning: true };
      throw err;
    }
  }

  /** GET /backups: the sets in the agent's store. */
  listBackups(signal?: AbortSignal): Promise<BackupList> {
    return this.request("GET", "/backups", BackupList, undefined, { signal, timeoutMs: 60_000 });
  }

  /** GET /backups/last: the agent's record of its last successful and failed backup (404 from an agent older than issue 12). */
  lastBackups(signal?: AbortSignal): Promise<BackupOutcome> {
    return this.request("GET", "/backups/last", BackupOutcome, undefined, { signal });
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
    return this.request("GET", `/health${opts.full ? "?integrity=full" : ""}`, HealthReport, undefined, {
      signal: opts.signal,
      timeoutMs: opts.full ? 300_000 : 60_000,
    });
  }

  /** GET /continuous: continuous protection's line (404 from an agent older than issue 16). */
  continuous(signal?: AbortSignal): Promise<ContinuousStatus> {
    return this.request("GET", "/continuous", ContinuousStatus, undefined, { signal });
  }

  /** GET /continuous/timeline: the points a restore can reach after `setId` (or "latest"), read from the log's segments (404 from an agent older than it). */
  timeline(query: { setId: string; segments?: number }, signal?: AbortSignal): Promise<LogTimeline> {
    const q = new URLSearchParams({ setId: query.setId, ...(query.segments ? { segments: String(query.segments) } : {}) });
    return this.request("GET", `/continuous/timeline?${q}`, LogTimeline, undefined, { signal, timeoutMs: 120_000 });
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

/** The dashboard's AgentClient from its configuration (LIFEBOAT_AGENT_URL/TOKEN and how to trust it), or null when none is set. */
export function agentClientFromEnv(
  env: Pick<DashboardEnv, "LIFEBOAT_AGENT_URL" | "agentToken" | "agentFingerprint" | "LIFEBOAT_AGENT_CA_FILE" | "LIFEBOAT_AGENT_INSECURE_HTTP">,
): AgentClient | null {
  if (!env.LIFEBOAT_AGENT_URL || !env.agentToken) return null;
  return new AgentClient({
    baseUrl: env.LIFEBOAT_AGENT_URL,
    token: env.agentToken,
    tls: tlsFromEnv(env, (f) => readFileSync(f, "utf8")),
    allowInsecureHttp: env.LIFEBOAT_AGENT_INSECURE_HTTP,
  });
}
