import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERROR_STATUS } from "../../lib/contracts/errors";
import { loadAgentConfig } from "../config";
import { makeDeps } from "../deps";
import { buildAgentApp, type AgentApp } from "../server";
import { agentEnvFor, makeTestServer } from "../testing/restore-fixtures";

/**
 * Every route every agent module registers, found from the router itself (so a route added later is
 * checked too): only the bare liveness check answers without the bearer token; every other one is
 * 401 with no token and with a wrong one, before any work or body parsing.
 */

const TOKEN = "routes-guarded-agent-token-0123456789abcdef";
let work: string;
let app: AgentApp;
let url: string;

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-agent-routes-"));
  const server = makeTestServer(path.join(work, "k3s"), { seed: 3, marker: "marker-ROUTES" });
  const deps = makeDeps(loadAgentConfig(agentEnvFor(server, { LIFEBOAT_AGENT_TOKEN: TOKEN, LIFEBOAT_BACKUP_DIR: path.join(work, "store") })), {
    logDestination: pino.destination("/dev/null"),
  });
  app = buildAgentApp(deps);
  url = (await app.listen(0, "127.0.0.1")).url;
});

afterAll(async () => {
  await app?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the agent's routes", () => {
  it("only GET /livez is open; every other route needs the token", () => {
    const routes = app.router.list();
    expect(routes.length).toBeGreaterThanOrEqual(15);
    expect(routes.filter((r) => !r.auth).map((r) => `${r.method} ${r.path}`)).toEqual(["GET /livez"]);
    // The continuous-protection line is one of them (issue 16's route).
    expect(routes).toContainEqual({ method: "GET", path: "/continuous", auth: true });
    expect(routes).toContainEqual({ method: "GET", path: "/continuous/timeline", auth: true });
  });

  it("every route that takes a body answers a malformed one in the error model, never a 500, and changes nothing", async () => {
    const bodies: [string, string][] = [
      ["{bad", "application/json"],
      ["[]", "application/json"],
      ["null", "application/json"],
      ['"s"', "application/json"],
      ["1e999", "application/json"],
      ['{"dryRun":true,"dryRun":false}', "application/json"],
      ["a=1", "application/x-www-form-urlencoded"],
      ["--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--x--\r\n", "multipart/form-data; boundary=x"],
    ];
    const seen: string[] = [];
    for (const r of app.router.list().filter((x) => x.method !== "GET")) {
      const p = r.path.replace(/:[A-Za-z_]+/g, "x");
      for (const [body, type] of bodies) {
        const res = await fetch(url + p, { method: r.method, headers: { authorization: `Bearer ${TOKEN}`, "content-type": type }, body });
        const json = (await res.json()) as { code: keyof typeof ERROR_STATUS; message: string };
        expect(res.status, `${r.method} ${r.path} ${body}`).toBeLessThan(500);
        expect(res.status, `${r.method} ${r.path} ${body}`).toBe(ERROR_STATUS[json.code]);
        expect(json.message, `${r.method} ${r.path} ${body}`).toMatch(/\w/);
        seen.push(`${r.method} ${r.path}`);
      }
    }
    expect(seen.length).toBeGreaterThan(0);
    // Nothing started: no job ran for any of them.
    const jobs = await fetch(url + "/jobs", { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(await jobs.json()).toEqual({ jobs: [] });
  });

  it("every guarded route is 401 without the token and with a wrong one", async () => {
    for (const r of app.router.list().filter((x) => x.auth)) {
      const p = r.path.replace(/:[A-Za-z_]+/g, "x");
      for (const headers of [{}, { authorization: `Bearer ${TOKEN}x` }] as Record<string, string>[]) {
        const res = await fetch(url + p, {
          method: r.method,
          headers: { ...headers, ...(r.method === "GET" ? {} : { "content-type": "application/json" }) },
          body: r.method === "GET" ? undefined : "{}",
        });
        expect(res.status, `${r.method} ${r.path} with ${JSON.stringify(headers)}`).toBe(401);
        expect(await res.json()).toEqual({ code: "unauthorized", message: expect.any(String) });
      }
    }
  });
});
