import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import yaml from "js-yaml";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadAgentConfig } from "../../agent/config";
import { makeDeps } from "../../agent/deps";
import { agentModules } from "../../agent/modules";
import { buildAgentApp, type AgentApp } from "../../agent/server";
import { loadAgentTls, selfSignedPaths } from "../../agent/tls/certificate";
import { startProcess, waitForHttp, type RunningProcess } from "../process";

/**
 * docs/alerts.md's scrape configuration, as an operator pastes it: a real Prometheus (Debian's
 * `prometheus` package, as for promtool) scrapes a real agent with it — HTTPS, the agent's own
 * self-signed certificate, its bearer token — with only the targets and file paths pointed here.
 * Both ends refuse a request without a token, so both jobs must send one.
 */

const ROOT = path.resolve(import.meta.dirname, "../..");
const TOKEN = "scrape-config-agent-token-0123456789abcdef";
type Job = { job_name: string; authorization?: { credentials_file?: string }; tls_config?: { ca_file?: string }; static_configs: { targets: string[] }[] };
type ScrapeConfig = { scrape_configs: Job[]; rule_files?: string[]; global?: Record<string, unknown> };

let work: string;
let app: AgentApp;
let agentPort: number;
let certFile: string;
let prometheus: RunningProcess | undefined;

function documented(): ScrapeConfig {
  const doc = readFileSync(path.join(ROOT, "docs/alerts.md"), "utf8");
  const m = /Scrape config[\s\S]*?```yaml\n([\s\S]*?)```/.exec(doc);
  if (!m) throw new Error("docs/alerts.md has no scrape configuration");
  return yaml.load(m[1]) as ScrapeConfig;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-scrape-"));
  const config = loadAgentConfig({
    LIFEBOAT_K3S_SERVER_DIR: path.join(work, "server"),
    LIFEBOAT_STATE_DIR: path.join(work, "state"),
    LIFEBOAT_AGENT_TOKEN: TOKEN,
    LIFEBOAT_BACKUP_SCHEDULE: "off",
    LIFEBOAT_INTEGRITY_SCHEDULE: "off",
    LOG_LEVEL: "silent",
  });
  const tls = loadAgentTls(config);
  certFile = selfSignedPaths(config).cert;
  app = buildAgentApp(makeDeps(config, { logDestination: pino.destination("/dev/null") }), agentModules, { tls });
  agentPort = Number(new URL((await app.listen(0, "127.0.0.1")).url).port);
});
afterAll(async () => {
  await prometheus?.stop();
  await app?.close();
  rmSync(work, { recursive: true, force: true });
});

describe("docs/alerts.md's scrape configuration", () => {
  it("sends a token to both ends (the dashboard's /api/metrics needs a viewer, the agent's /metrics its token)", () => {
    const jobs = documented().scrape_configs;
    expect(jobs.map((j) => j.job_name).sort()).toEqual(["lifeboat", "lifeboat-agent"]);
    for (const j of jobs) expect({ job: j.job_name, credentials: Boolean(j.authorization?.credentials_file) }).toEqual({ job: j.job_name, credentials: true });
  });

  it("scrapes a real agent: Prometheus reports the target up", async () => {
    const cfg = documented();
    const agentJob = cfg.scrape_configs.find((j) => j.job_name === "lifeboat-agent")!;
    const tokenFile = path.join(work, "lifeboat-agent-token");
    writeFileSync(tokenFile, TOKEN + "\n", { mode: 0o600 });
    agentJob.static_configs = [{ targets: [`127.0.0.1:${agentPort}`] }];
    agentJob.authorization!.credentials_file = tokenFile;
    if (agentJob.tls_config?.ca_file) agentJob.tls_config.ca_file = certFile;
    const file = path.join(work, "prometheus.yml");
    writeFileSync(
      file,
      yaml.dump({
        ...cfg,
        global: { ...cfg.global, scrape_interval: "1s", scrape_timeout: "1s" },
        scrape_configs: [agentJob],
        rule_files: [path.join(ROOT, "deploy/prometheus/lifeboat-rules.yaml")],
      }),
    );
    const web = `127.0.0.1:${await freePort()}`;
    prometheus = startProcess("prometheus", [`--config.file=${file}`, `--storage.tsdb.path=${path.join(work, "tsdb")}`, `--web.listen-address=${web}`]);
    await waitForHttp(`http://${web}/-/ready`, { timeoutMs: 30_000, what: "prometheus", proc: prometheus });
    let target: { health: string; lastError: string; scrapeUrl: string } | undefined;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const body = (await (await fetch(`http://${web}/api/v1/targets`)).json()) as { data: { activeTargets: (typeof target)[] } };
      target = body.data.activeTargets[0];
      if (target && target.health !== "unknown") break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(target).toMatchObject({ health: "up", lastError: "" });
  }, 60_000);
});
