import { randomUUID } from "node:crypto";
import { AgentClient, isAgentError } from "../agent/agent-client";
import type { Db } from "../db/database";
import type { AgentProblem, AgentTarget } from "./contracts";

/**
 * The agents a restore can target: the dashboard's configured one (LIFEBOAT_AGENT_URL/TOKEN), or a
 * new machine's agent the user entered in the wizard (the master migration of the incident
 * write-up: flash a new server, install the agent, restore there). A new machine's token is kept
 * in the dashboard's SQLite only for as long as its wizard run lasts — never sent back to the
 * browser, never logged, never in a URL — so a dashboard restart can still follow its restore.
 */

export interface AgentTargets {
  /** The configured agent's client, or null when none is configured. */
  configured(): AgentClient | null;
  /** Saves a new machine's address and token; returns the target (with its server-side id). */
  addNew(url: string, token: string): AgentTarget;
  /** The client for a target. Throws TargetUnavailableError when its token was forgotten or no agent is configured. */
  client(target: AgentTarget): AgentClient;
  /** Forgets a new machine's token (the run ended). */
  forget(target: AgentTarget | null): void;
}

export class TargetUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TargetUnavailableError";
  }
}

/** True for a TargetUnavailableError from any copy of this module (see isAgentError). */
export function isTargetUnavailable(err: unknown): err is TargetUnavailableError {
  return err instanceof Error && err.name === "TargetUnavailableError";
}

/** The AgentTargets of the dashboard server, over its database and configured agent. */
export function makeAgentTargets(db: Db, configured: () => AgentClient | null, clientOptions: { timeoutMs?: number } = {}): AgentTargets {
  return {
    configured,
    addNew(url, token) {
      const id = randomUUID();
      const clean = url.trim().replace(/\/+$/, "");
      db.prepare("INSERT INTO restore_agent_targets (id, url, token, created_at) VALUES (?, ?, ?, ?)").run(id, clean, token.trim(), new Date().toISOString());
      return { kind: "new", url: clean, targetId: id };
    },
    client(target) {
      if (target.kind === "configured") {
        const c = configured();
        if (!c) throw new TargetUnavailableError("No agent is configured any more (LIFEBOAT_AGENT_URL): set it again and restart the dashboard, or choose a new machine's agent.");
        return c;
      }
      const row = target.targetId ? (db.prepare("SELECT url, token FROM restore_agent_targets WHERE id = ?").get(target.targetId) as { url: string; token: string } | undefined) : undefined;
      if (!row) throw new TargetUnavailableError(`The token for ${target.url} is no longer kept (the run ended): enter the new machine's agent again in step 1.`);
      return new AgentClient({ baseUrl: row.url, token: row.token, ...clientOptions });
    },
    forget(target) {
      if (target?.kind === "new" && target.targetId) db.prepare("DELETE FROM restore_agent_targets WHERE id = ?").run(target.targetId);
    },
  };
}

/** What to check when the agent at `url` could not be asked, in words (never the token). */
export function describeAgentProblem(err: unknown, url: string): AgentProblem {
  const at = new Date().toISOString();
  if (isTargetUnavailable(err)) return { url, code: "not_configured", message: err.message, hint: "the target: choose it again in step 1.", at };
  if (isAgentError(err)) {
    const hint =
      err.status === 0
        ? `that the agent runs on that machine (\`lifeboat-agent serve\`, or its systemd unit), that it listens on this address (LIFEBOAT_AGENT_HOST / LIFEBOAT_AGENT_PORT), and that no firewall blocks the port from the dashboard.`
        : err.status === 401
          ? "the token: it must be the value of LIFEBOAT_AGENT_TOKEN (or of the file LIFEBOAT_AGENT_TOKEN_FILE) on that machine."
          : err.code === "bad_response"
            ? "that it is a Lifeboat agent of the same version as this dashboard (update one of them)."
            : "the agent's log on that machine.";
    return { url, code: err.status === 0 ? "unreachable" : err.status === 401 ? "agent_auth" : err.code, message: err.message, hint, at };
  }
  return { url, code: "agent_error", message: err instanceof Error ? err.message : String(err), hint: "the dashboard's log.", at };
}
