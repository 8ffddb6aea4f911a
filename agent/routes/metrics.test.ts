import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startEmbeddedS3, type EmbeddedS3 } from "../../lib/storage/embedded-s3";
import { BackupOutcome } from "../../lib/contracts/agent-backup";
import { Job } from "../../lib/contracts/agent-jobs";
import { loadAgentConfig } from "../config";
import { makeDeps } from "../deps";
import { buildAgentApp, type AgentApp } from "../server";
import { runHealthCheck } from "../health/check";
import { rememberHealth } from "../metrics/health-cache";
import { agentMetrics } from "../metrics/prometheus";
import { makeTestServerDir, type TestServerDir } from "../testing/test-server-dir";

// The agent's GET /metrics and GET /backups/last against a real agent on port 0, a real s3rver and a
// generated kine database: the values come from real backups and a real health check.

const TOKEN = "metrics-test-token-91c-0123456789abc";
let work: string;
let s3: EmbeddedS3;
let server: TestServerDir;
const apps: AgentApp[] = [];

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-agent-metrics-"));
  s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["backups"] });
  server = makeTestServerDir(path.join(work, "k3s"), { targetBytes: 2_000_000 });
  writeFileSync(path.join(work, "passphrase"), "metrics test passphrase\n");
});
afterAll(async () => {
  for (const a of apps) await a.close();
  await s3?.stop();
  rmSync(work, { recursive: true, force: true });
});

async function startAgent(env: Record<string, string> = {}): Promise<string> {
  const config = loadAgentConfig({
    LIFEBOAT_K3S_SERVER_DIR: server.serverDir,
    LIFEBOAT_PASSPHRASE_FILE: path.join(work, "passphrase"),
    LIFEBOAT_STATE_DIR: path.join(work, "state"),
    AWS_S3_ENDPOINT: s3.endpoint,
    AWS_S3_BUCKET: "backups",
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
    LIFEBOAT_AGENT_TOKEN: TOKEN,
    LIFEBOAT_BACKUP_SCHEDULE: "off",
    LIFEBOAT_OWNER: `${process.getuid!()}:${process.getgid!()}`,
    LOG_LEVEL: "silent",
    ...env,
  });
  const app = buildAgentApp(makeDeps(config));
  apps.push(app);
  return (await app.listen(0, "127.0.0.1")).url;
}

const get = (url: string, withToken = true) => fetch(url, { headers: withToken ? { authorization: `Bearer ${TOKEN}` } : {} });

async function backup(url: string): Promise<Job> {
  const res = await fetch(`${url}/backups`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: "{}" });
  expect(res.status).toBe(202);
  const { jobId } = (await res.json()) as { jobId: string };
  for (;;) {
    const job = Job.parse(await (await get(`${url}/jobs/${jobId}`)).json());
    if (job.state !== "running") return job;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `name{labels} value` lines of a scrape, as a map from the series to its value. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

describe("the agent's metrics", () => {
  it("need the bearer token like every other route", async () => {
    const url = await startAgent();
    expect((await get(`${url}/metrics`, false)).status).toBe(401);
    expect((await get(`${url}/backups/last`, false)).status).toBe(401);
  });

  it("report a real backup and a real health check; the backup record survives a restart", async () => {
    const url = await startAgent();
    const before = parse(await (await get(`${url}/metrics`)).text());
    expect(before.has("lifeboat_agent_last_backup_success_timestamp_seconds")).toBe(false); // unknown is absent, not 0
    expect(before.get('lifeboat_agent_job_running{type="backup"}')).toBe(0);
    expect(before.get("lifeboat_agent_database_size_bytes")).toBeGreaterThan(1_000_000);

    const job = await backup(url);
    expect(job.state).toBe("succeeded");
    const last = BackupOutcome.parse(await (await get(`${url}/backups/last`)).json());
    expect(last.lastSuccess).toMatchObject({ jobId: job.id, setId: (job.result as { setId: string }).setId });
    expect(last.lastSuccess!.bytes).toBeGreaterThan(10_000);

    const health = (await (await get(`${url}/health`)).json()) as { kine: { compactionLag: number }; database: { freelistCount: number; pageSize: number } };
    const res = await get(`${url}/metrics`);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = parse(await res.text());
    expect(m.get("lifeboat_agent_last_backup_success_timestamp_seconds")).toBeCloseTo(Date.parse(last.lastSuccess!.at) / 1000, 3);
    expect(m.get("lifeboat_agent_last_backup_bytes")).toBe(last.lastSuccess!.bytes);
    expect(m.get('lifeboat_agent_last_backup_duration_seconds{outcome="success"}')).toBeGreaterThan(0);
    expect(m.get("lifeboat_agent_compaction_lag_revisions")).toBe(health.kine.compactionLag);
    expect(m.get("lifeboat_agent_freelist_size_bytes")).toBe(health.database.freelistCount * health.database.pageSize);
    expect(m.get("lifeboat_agent_quick_check_ok")).toBe(1);
    // The generated database is 0644 (k3s's is 0600): a real drift; the token is as it should be.
    expect(m.get(`lifeboat_agent_file_ownership_ok{path="${server.dbPath}"}`)).toBe(0);
    expect(m.get(`lifeboat_agent_file_ownership_ok{path="${path.join(server.serverDir, "token")}"}`)).toBe(1);
    expect(m.get("lifeboat_agent_staging_free_bytes")).toBeGreaterThan(m.get("lifeboat_agent_staging_needed_bytes")!);
    expect(m.get("lifeboat_agent_wal_size_bytes")).toBeGreaterThanOrEqual(0);
    expect(m.has("process_resident_memory_bytes")).toBe(true);

    // Another agent on the same state dir (a restart) reads the same record.
    const again = await startAgent();
    expect(BackupOutcome.parse(await (await get(`${again}/backups/last`)).json())).toEqual(last);
  }, 120_000);

  it("a state.db emptied to 0 bytes (it opens, quick_check passes on nothing, no kine table) reads as a failed database check", async () => {
    const emptied = makeTestServerDir(path.join(work, "emptied"), { targetBytes: 500_000 });
    truncateSync(emptied.dbPath, 0);
    const url = await startAgent({ LIFEBOAT_K3S_SERVER_DIR: emptied.serverDir, LIFEBOAT_STATE_DIR: path.join(work, "state-emptied") });
    const health = (await (await get(`${url}/health`)).json()) as { verdict: string; reasons: { code: string; fix: string | null }[] };
    expect(health.verdict).toBe("critical");
    expect(health.reasons.find((r) => r.code === "kine_unreadable")?.fix).toMatch(/^Check LIFEBOAT_K3S_SERVER_DIR/);
    const m = parse(await (await get(`${url}/metrics`)).text());
    expect(m.get("lifeboat_agent_quick_check_ok")).toBe(0);
  }, 60_000);

  it("while a restore is pending, the database it moved aside is not reported as a failed check (as the dashboard's rules keep their state)", async () => {
    const moved = makeTestServerDir(path.join(work, "moved"), { targetBytes: 500_000 });
    rmSync(moved.dbPath);
    const deps = makeDeps(
      loadAgentConfig({ LIFEBOAT_K3S_SERVER_DIR: moved.serverDir, LIFEBOAT_STATE_DIR: path.join(work, "state-moved"), LOG_LEVEL: "silent" }),
    );
    const report = await runHealthCheck(deps);
    expect(report.quickCheck.ok).toBe(false);
    rememberHealth(deps, report);
    expect(parse((await agentMetrics(deps)).text).get("lifeboat_agent_quick_check_ok")).toBe(0);
    // The same findings while the agent's restore has the database out of place (its swap).
    rememberHealth(deps, { ...report, pendingRestoreId: "r-test" });
    const m = parse((await agentMetrics(deps)).text);
    expect(m.has("lifeboat_agent_quick_check_ok")).toBe(false);
    expect([...m.keys()].filter((k) => k.startsWith("lifeboat_agent_file_ownership_ok"))).toEqual([]);
    expect(m.has("lifeboat_agent_database_size_bytes")).toBe(false); // read at scrape time: no file, no value
  }, 60_000);

  it("a state directory the agent cannot use (here a file where the directory should be) is a 0 in lifeboat_agent_state_dir_ok, and /health says why", async () => {
    const fine = await startAgent({ LIFEBOAT_STATE_DIR: path.join(work, "state-fine") });
    expect(parse(await (await get(`${fine}/metrics`)).text()).get("lifeboat_agent_state_dir_ok")).toBe(1);

    const notADir = path.join(work, "state-is-a-file");
    writeFileSync(notADir, "not a directory\n");
    const url = await startAgent({ LIFEBOAT_STATE_DIR: notADir });
    const res = await get(`${url}/health`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ code: "health_unavailable", message: expect.stringMatching(/LIFEBOAT_STATE_DIR/) });
    expect(parse(await (await get(`${url}/metrics`)).text()).get("lifeboat_agent_state_dir_ok")).toBe(0);
  }, 60_000);

  it("record a failed backup beside the last success", async () => {
    const url = await startAgent({ AWS_S3_BUCKET: "no-such-bucket" });
    const job = await backup(url);
    expect(job.state).toBe("failed");
    const last = BackupOutcome.parse(await (await get(`${url}/backups/last`)).json());
    expect(last.lastFailure).toMatchObject({ jobId: job.id, error: job.error });
    expect(last.lastSuccess).not.toBeNull(); // the previous test's success is kept
    const m = parse(await (await get(`${url}/metrics`)).text());
    expect(m.get("lifeboat_agent_last_backup_failure_timestamp_seconds")).toBeGreaterThan(m.get("lifeboat_agent_last_backup_success_timestamp_seconds")!);
  }, 60_000);
});
