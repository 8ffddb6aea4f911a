import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentClient } from "../agent/agent-client";
import { openDatabase, type Db } from "../db/database";
import { loadAgentConfig } from "../../agent/config";
import { makeDeps } from "../../agent/deps";
import { buildAgentApp, type AgentApp } from "../../agent/server";
import { makeTestServerDir } from "../../agent/testing/test-server-dir";
import { AgentWatch } from "./agent-watch";
import { evaluateRules } from "./rules/evaluate";
import { DEFAULT_RULE_CONFIG } from "./rules/types";
import { catalogInput } from "./testing/fixtures";

// The agent watch against a real agent on port 0 with a generated kine database: a poll brings its
// health report; when the agent goes away the "unreachable since" clock starts, survives a new
// watch (a dashboard restart), and the health rules keep their state instead of resolving.

const TOKEN = "watch-test-token-0123456789abcdef01";
let dir: string;
let db: Db;
let app: AgentApp;
let url: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "lifeboat-watch-"));
  const server = makeTestServerDir(path.join(dir, "k3s"), { targetBytes: 1_500_000 });
  const config = loadAgentConfig({
    LIFEBOAT_K3S_SERVER_DIR: server.serverDir,
    LIFEBOAT_STATE_DIR: path.join(dir, "state"),
    LIFEBOAT_AGENT_TOKEN: TOKEN,
    LIFEBOAT_BACKUP_DIR: path.join(dir, "store"),
    LIFEBOAT_BACKUP_SCHEDULE: "off",
    LOG_LEVEL: "silent",
  });
  app = buildAgentApp(makeDeps(config));
  url = (await app.listen(0, "127.0.0.1")).url;
  db = openDatabase(path.join(dir, "data"));
});
afterAll(async () => {
  await app?.close().catch(() => {});
  db?.close();
  rmSync(dir, { recursive: true, force: true });
});

const watch = (now: () => Date = () => new Date()) =>
  new AgentWatch({ db, agent: () => new AgentClient({ baseUrl: url, token: TOKEN, timeoutMs: 3000 }), log: pino({ level: "silent" }), pollMs: 60_000, now });

describe("AgentWatch", () => {
  it("polls the agent's health and its backup record", async () => {
    const w = watch();
    expect(w.up()).toBeNull();
    await w.poll();
    const input = w.input();
    expect(input).toMatchObject({ configured: true, healthFresh: true, unreachableSince: null, backups: { lastSuccessAt: null, lastFailureAt: null } });
    expect(input.health?.kine?.rowCount).toBeGreaterThan(0);
    expect(w.up()).toBe(true);
  });

  it("an agent whose state directory cannot be used answers health_unavailable: it is up, and LifeboatAgentStateDirUnusable fires", async () => {
    const stateDir = path.join(dir, "state");
    renameSync(stateDir, `${stateDir}.aside`);
    writeFileSync(stateDir, "a file where the state directory should be\n");
    try {
      const w = watch();
      await w.poll();
      expect(w.input()).toMatchObject({ healthFresh: false, unreachableSince: null, lastErrorCode: "health_unavailable" });
      expect(w.up()).toBe(true);
      const out = evaluateRules({ now: new Date(), catalog: catalogInput([]), agent: w.input() }, DEFAULT_RULE_CONFIG);
      expect(out.flatMap((o) => o.firing).map((a) => a.key)).toEqual(["LifeboatAgentStateDirUnusable"]);
      expect(out.flatMap((o) => o.firing)[0].summary).toMatch(/cannot use its state directory: .*LIFEBOAT_STATE_DIR/);
    } finally {
      rmSync(stateDir);
      renameSync(`${stateDir}.aside`, stateDir);
    }
  });

  it("starts the unreachable clock when the agent goes away, keeps it across a restart, and the rules fire after N minutes", async () => {
    await app.close();
    const t0 = Date.parse("2024-12-20T03:00:00Z");
    const first = watch(() => new Date(t0));
    await first.poll();
    expect(first.input()).toMatchObject({ healthFresh: false, unreachableSince: "2024-12-20T03:00:00.000Z" });
    expect(first.input().lastError).toMatch(/^Cannot reach the agent at http:\/\/127\.0\.0\.1:\d+: /);
    expect(first.up()).toBe(false);
    // A new watch (the dashboard restarted) keeps the first failure's time.
    const later = watch(() => new Date(t0 + 11 * 60_000));
    await later.poll();
    expect(later.input().unreachableSince).toBe("2024-12-20T03:00:00.000Z");
    const out = evaluateRules({ now: new Date(t0 + 11 * 60_000), catalog: catalogInput([]), agent: later.input() }, DEFAULT_RULE_CONFIG);
    expect(out.flatMap((o) => o.firing).map((a) => a.key)).toEqual(["LifeboatAgentUnreachable"]);
    expect(out.find((o) => o.name === "LifeboatDatabaseCheckFailed")?.known).toBe(false);
  });
});
