import "server-only";
import { DomainError } from "../contracts/errors";
import { serverContext } from "../server/context";
import { hasErrorCode } from "../contracts/errors";
import { AgentClient, agentClientFromEnv } from "./agent-client";

/** The error for an action that needs the agent when none is configured (`no_agent`, 503); `cannot` completes "so …". */
export function noAgentError(cannot: string): DomainError {
  return new DomainError(
    "no_agent",
    `No agent is configured, so ${cannot}. Set LIFEBOAT_AGENT_URL and LIFEBOAT_AGENT_TOKEN (the agent runs on the k3s server: \`lifeboat-agent serve\`).`,
  );
}

/**
 * The dashboard's configured AgentClient, for a route that forwards to the agent (the browser never
 * talks to it). Throws ConfigError (`config`) for an invalid configuration, `no_agent` when none is set.
 */
export function requireAgent(cannot: string): AgentClient {
  const client = agentClientFromEnv(serverContext().env);
  if (!client) throw noAgentError(cannot);
  return client;
}

/** The configured AgentClient for background work (drills, alerts): null when none is configured or its configuration is invalid (pages say why). */
export function configuredAgentOrNull(): AgentClient | null {
  try {
    return agentClientFromEnv(serverContext().env);
  } catch (err) {
    if (hasErrorCode(err, "config")) return null;
    throw err;
  }
}
