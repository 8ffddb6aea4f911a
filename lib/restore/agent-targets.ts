import "server-only";
import { randomUUID } from "node:crypto";
import { AgentClient } from "../agent/agent-client";
import { checkAgentUrl } from "../agent/transport";
import { MAKE_TOKEN_HINT, MIN_AGENT_TOKEN_LENGTH, parseFingerprint } from "../contracts/agent-tls";
import { DomainError } from "../contracts/errors";
import { forgetSecrets, type Db } from "../db/database";
import type { AgentTarget } from "./contracts";

/**
 * The agents a restore can target: the dashboard's configured one (LIFEBOAT_AGENT_URL/TOKEN), or a
 * new machine's agent the user entered in the wizard (the master migration of the incident
 * write-up: flash a new server, install the agent, restore there: its URL, token and certificate
 * fingerprint). A new machine's token is kept in the dashboard's SQLite only for as long as its
 * wizard run lasts — never sent back to the browser, never logged, never in a URL — so a dashboard
 * restart can still follow its restore; forgetting it leaves no copy in the file or its WAL
 * (secure_delete, then a checkpoint that empties the WAL).
 */

export interface AgentTargets {
  /** The configured agent's client, or null when none is configured. */
  configured(): AgentClient | null;
  /**
   * Saves a new machine's address, token and fingerprint; returns the target (with its server-side id).
   * Throws DomainError `bad_request` for plain HTTP to another machine, a short token or a malformed fingerprint.
   */
  addNew(url: string, token: string, fingerprint?: string): AgentTarget;
  /** The client for a target. Throws DomainError `target_unavailable` when its token was forgotten or no agent is configured. */
  client(target: AgentTarget): AgentClient;
  /** Forgets a new machine's token (the run ended). */
  forget(target: AgentTarget | null): void;
}

/** The target cannot be asked any more (`target_unavailable`, 409); `details.hint` says what to do. */
function targetUnavailable(message: string): DomainError {
  return new DomainError("target_unavailable", message, { details: { hint: "the target: choose it again in step 1." } });
}

export interface NewAgentOptions {
  timeoutMs?: number;
  /** LIFEBOAT_AGENT_INSECURE_HTTP: plain HTTP to another machine is allowed. */
  allowInsecureHttp?: boolean;
  /** LIFEBOAT_AGENT_CA_FILE's PEM: a CA that vouches for agents without a typed fingerprint. */
  ca?: string;
}

/** The AgentTargets of the dashboard server, over its database and configured agent. */
export function makeAgentTargets(db: Db, configured: () => AgentClient | null, clientOptions: NewAgentOptions = {}): AgentTargets {
  return {
    configured,
    addNew(url, token, fingerprint) {
      const id = randomUUID();
      const clean = url.trim().replace(/\/+$/, "");
      // A user name or password would be kept and shown with the URL (the run, the audit log, messages); agents take none.
      const parsed = new URL(clean);
      if (parsed.username || parsed.password)
        throw new DomainError(
          "bad_request",
          `The agent's URL takes no user name or password (the agent's token goes in its own field): enter it as ${parsed.protocol}//${parsed.host}.`,
        );
      checkAgentUrl(clean, clientOptions.allowInsecureHttp ?? false);
      if (token.trim().length < MIN_AGENT_TOKEN_LENGTH)
        throw new DomainError(
          "bad_request",
          `That agent token is shorter than ${MIN_AGENT_TOKEN_LENGTH} characters, which agents refuse. Make a new one on that machine (${MAKE_TOKEN_HINT}) and give it to its agent.`,
        );
      const pin = fingerprint?.trim() ? parseFingerprint(fingerprint) : null;
      if (fingerprint?.trim() && !pin)
        throw new DomainError(
          "bad_request",
          "That is not a SHA-256 fingerprint: copy the one `lifeboat-agent status` prints on the new machine (64 hex digits).",
        );
      db.prepare("INSERT INTO restore_agent_targets (id, url, token, created_at, fingerprint) VALUES (?, ?, ?, ?, ?)").run(
        id,
        clean,
        token.trim(),
        new Date().toISOString(),
        pin,
      );
      return { kind: "new", url: clean, targetId: id, fingerprint: pin };
    },
    client(target) {
      if (target.kind === "configured") {
        const c = configured();
        if (!c)
          throw targetUnavailable(
            "No agent is configured any more (LIFEBOAT_AGENT_URL): set it again and restart the dashboard, or choose a new machine's agent.",
          );
        return c;
      }
      const row = target.targetId
        ? (db.prepare("SELECT url, token, fingerprint FROM restore_agent_targets WHERE id = ?").get(target.targetId) as
            { url: string; token: string; fingerprint: string | null } | undefined)
        : undefined;
      if (!row) throw targetUnavailable(`The token for ${target.url} is no longer kept (the run ended): enter the new machine's agent again in step 1.`);
      return new AgentClient({
        baseUrl: row.url,
        token: row.token,
        timeoutMs: clientOptions.timeoutMs,
        allowInsecureHttp: clientOptions.allowInsecureHttp,
        tls: { fingerprint: row.fingerprint ?? undefined, ca: clientOptions.ca, pinSource: "the fingerprint entered in step 1" },
      });
    },
    forget(target) {
      if (target?.kind !== "new" || !target.targetId) return;
      db.prepare("DELETE FROM restore_agent_targets WHERE id = ?").run(target.targetId);
      forgetSecrets(db);
    },
  };
}
