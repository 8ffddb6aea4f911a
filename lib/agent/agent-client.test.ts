import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { z } from "zod";
import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openDatabase } from "../db/database";
import { AgentWatch } from "../alerts/agent-watch";
import { HealthReport } from "../contracts/agent-health";
import { AgentClient, isAgentError, type AgentError } from "./agent-client";

// An agent whose /health takes longer than the dashboard waits (an integrity_check on a big
// database) is busy, not gone: a loopback HTTP server that answers /livez at once and holds every
// other request, beside one that holds everything.

const servers: Server[] = [];
const held: ServerResponse[] = [];
afterEach(async () => {
  for (const res of held.splice(0)) res.destroy();
  for (const s of servers.splice(0)) await new Promise<void>((resolve) => s.close(() => resolve()));
});

async function agentThat(livez: boolean): Promise<string> {
  const server = createServer((req, res) => {
    if (livez && req.url === "/livez") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true }));
      return;
    }
    held.push(res); // never answered
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("AgentClient: a request that outlasts its timeout", () => {
  it("is agent_slow when the agent still answers /livez: it runs, it is busy", async () => {
    const url = await agentThat(true);
    const err = await new AgentClient({ baseUrl: url, token: "t".repeat(32), timeoutMs: 300 })
      .request("GET", "/health", z.null())
      .catch((e: unknown) => e as AgentError);
    expect(isAgentError(err)).toBe(true);
    if (!err) throw new Error("no error");
    expect(err.code).toBe("agent_slow");
    expect(err.message).toBe(
      `The agent at ${url} runs but did not answer GET /health within 0.3 s: it is busy (a check of a large database, a long job) or its disk is slow.`,
    );
    expect((err as AgentError).details?.hint).toMatch(/answers \/livez/);
  });

  it("is agent_unreachable when nothing answers at all", async () => {
    const url = await agentThat(false);
    const err = await new AgentClient({ baseUrl: url, token: "t".repeat(32), timeoutMs: 300 })
      .request("GET", "/health", z.null())
      .catch((e: unknown) => e as AgentError);
    if (!err) throw new Error("no error");
    expect(err.code).toBe("agent_unreachable");
    expect(err.message).toBe(`Cannot reach the agent at ${url}: it did not answer in time.`);
  });

  it("a slow health check does not start the dashboard's unreachable clock: the agent counts as up", async () => {
    const url = await agentThat(true);
    // health() waits 60 s; the same call with a short wait stands in for a check that takes longer than that.
    class ShortHealth extends AgentClient {
      override health() {
        return this.request("GET", "/health", HealthReport, undefined, { timeoutMs: 300 });
      }
    }
    const dir = mkdtempSync(path.join(tmpdir(), "lifeboat-slow-agent-"));
    const db = openDatabase(path.join(dir, "data"));
    try {
      const w = new AgentWatch({ db, agent: () => new ShortHealth({ baseUrl: url, token: "t".repeat(32) }), log: pino({ level: "silent" }), pollMs: 60_000 });
      await w.poll();
      expect(w.input()).toMatchObject({ healthFresh: false, unreachableSince: null, lastErrorCode: "agent_slow" });
      expect(w.up()).toBe(true);
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
