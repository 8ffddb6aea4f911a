import { ApiError } from "@/lib/http/api";
import { ConfigError } from "@/lib/env";
import { serverContext } from "@/lib/server/context";
import { AgentClient, AgentError, agentClientFromEnv } from "@/lib/agent/agent-client";

/**
 * The dashboard's AgentClient for a route handler. The browser never talks to the agent: these
 * routes forward. Throws ApiError 503 when no agent is configured.
 */
export function agentForRequest(): AgentClient {
  let client: AgentClient | null;
  try {
    client = agentClientFromEnv(serverContext().env);
  } catch (err) {
    if (err instanceof ConfigError) throw new ApiError(500, "config", err.message);
    throw err;
  }
  if (!client)
    throw new ApiError(503, "no_agent", "No agent is configured, so the dashboard cannot start a backup. Set LIFEBOAT_AGENT_URL and LIFEBOAT_AGENT_TOKEN (the agent runs on the k3s server: `lifeboat-agent serve`).");
  return client;
}

/**
 * An AgentError as the browser should see it: the agent's own 4xx stay (with its sentence); an
 * unreachable agent or one that refuses the dashboard's token is a 502 (the user's browser is not
 * the one that is unauthorized). Never includes the token.
 */
export function agentErrorToApi(err: unknown): unknown {
  if (!(err instanceof AgentError)) return err;
  if (err.status === 0) return new ApiError(502, "agent_unreachable", err.message);
  if (err.status === 401) return new ApiError(502, "agent_auth", err.message);
  if (err.status >= 400 && err.status < 500) return new ApiError(err.status, err.code, err.message);
  return new ApiError(502, err.code, err.message);
}
