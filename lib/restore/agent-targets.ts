import "server-only";
import { randomUUID } from "node:crypto";
import { AgentClient } from "../agent/agent-client";
import { DomainError } from "../contracts/errors";
import type { Db } from "../db/database";
import type { AgentTarget } from "./contracts";

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
  /** The client for a target. Throws DomainError `target_unavailable` when its token was forgotten or no agent is configured. */
  client(target: AgentTarget): AgentClient;
  /** Forgets a new machine's token (the run ended). */
  forget(target: AgentTarget | null): void;
}

/** The target cannot be asked any more (`target_unavailable`, 409); `details.hint` says what to do. */
function targetUnavailable(message: string): DomainError {
  return new DomainError("target_unavailable", message, { details: { hint: "the target: choose it again in step 1." } });
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
        if (!c)
          throw targetUnavailable(
            "No agent is configured any more (LIFEBOAT_AGENT_URL): set it again and restart the dashboard, or choose a new machine's agent.",
          );
        return c;
      }
      const row = target.targetId
        ? (db.prepare("SELECT url, token FROM restore_agent_targets WHERE id = ?").get(target.targetId) as { url: string; token: string } | undefined)
        : undefined;
      if (!row) throw targetUnavailable(`The token for ${target.url} is no longer kept (the run ended): enter the new machine's agent again in step 1.`);
      return new AgentClient({ baseUrl: row.url, token: row.token, ...clientOptions });
    },
    forget(target) {
      if (target?.kind === "new" && target.targetId) db.prepare("DELETE FROM restore_agent_targets WHERE id = ?").run(target.targetId);
    },
  };
}
