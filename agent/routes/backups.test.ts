import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { startEmbeddedS3, type EmbeddedS3 } from "../../lib/storage/embedded-s3";
import { S3BackupStore, listAll } from "../../lib/storage";
import { Job } from "../../lib/contracts/agent-jobs";
import { BackupList, BackupResult, LiveStats, RetentionReport } from "../../lib/contracts/agent-backup";
import { lifeboatObjectNames, seedObjectNames, twoCopyLifeboatObjectNames } from "../../lib/contracts/backup-names";
import { AgentConfigError, loadAgentConfig } from "../config";
import { makeDeps } from "../deps";
import { buildAgentApp, type AgentApp } from "../server";
import { makeTestServerDir, type TestServerDir } from "../testing/test-server-dir";
import { AgentClient, AgentError } from "../../lib/agent/agent-client";
import { LazyS3BackupStore } from "../store";

const TOKEN = "agent-test-token-7d1e-0123456789abcdef";
let work: string;
let s3: EmbeddedS3;
let server: TestServerDir;
const apps: AgentApp[] = [];

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-api-"));
  s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["backups"] });
  server = makeTestServerDir(path.join(work, "k3s"), { targetBytes: 3_000_000 });
  writeFileSync(path.join(work, "passphrase"), "api test passphrase\n");
});
afterAll(async () => {
  for (const a of apps) await a.close();
  await s3?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** The agent's configuration for these tests, with its own bucket prefix; `env` overrides it. */
function agentConfig(prefix: string, env: Record<string, string> = {}) {
  return loadAgentConfig({
    LIFEBOAT_K3S_SERVER_DIR: server.serverDir,
    LIFEBOAT_PASSPHRASE_FILE: path.join(work, "passphrase"),
    LIFEBOAT_STATE_DIR: path.join(work, "state"),
    AWS_S3_ENDPOINT: s3.endpoint,
    AWS_S3_BUCKET: "backups",
    AWS_S3_PATH: prefix,
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
    LIFEBOAT_AGENT_TOKEN: TOKEN,
    LIFEBOAT_BACKUP_SCHEDULE: "off",
    LOG_LEVEL: "silent",
    ...env,
  });
}

/** An agent on port 0 with its own bucket prefix; `env` overrides the configuration. */
async function startAgent(prefix: string, env: Record<string, string> = {}): Promise<{ url: string; app: AgentApp }> {
  const config = agentConfig(prefix, env);
  const app = buildAgentApp(makeDeps(config));
  apps.push(app);
  const { url } = await app.listen(0, "127.0.0.1");
  return { url, app };
}

const auth = { authorization: `Bearer ${TOKEN}` };
async function call(url: string, method: string, body?: unknown, headers: Record<string, string> = auth): Promise<{ status: number; json: any }> {
  const res = await fetch(url, {
    method,
    headers: { ...headers, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

async function waitForJob(url: string, id: string): Promise<Job> {
  for (;;) {
    const { status, json } = await call(`${url}/jobs/${id}`, "GET");
    expect(status).toBe(200);
    const job = Job.parse(json);
    if (job.state !== "running") return job;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("auth and bad requests (never a 5xx)", () => {
  it("no token and a wrong token are 401 on every backup endpoint; /livez needs none", async () => {
    const { url } = await startAgent("auth");
    const endpoints: [string, string, unknown?][] = [
      ["POST", "/backups", {}],
      ["GET", "/backups"],
      ["POST", "/retention", { dryRun: true }],
      ["GET", "/stats"],
      ["GET", "/jobs/whatever"],
    ];
    for (const [method, p, body] of endpoints) {
      for (const headers of [
        {} as Record<string, string>,
        { authorization: "Bearer wrong-token" },
        { authorization: `Basic ${TOKEN}` },
        { authorization: `Bearer ${TOKEN}x` },
      ]) {
        const r = await call(url + p, method, body, headers);
        expect(r.status, `${method} ${p} with ${JSON.stringify(headers)}`).toBe(401);
        expect(r.json).toEqual({ code: "unauthorized", message: expect.any(String) });
        expect(r.json.message).not.toContain(TOKEN);
      }
    }
    expect((await call(url + "/livez", "GET", undefined, {})).status).toBe(200);
  });

  it("malformed bodies are 400 with { code, message }", async () => {
    const { url } = await startAgent("bad-body");
    const cases: [string, string, unknown, string][] = [
      ["POST", "/backups", "{not json", "bad_json"],
      ["POST", "/backups", { retention: "yes" }, "bad_request"],
      ["POST", "/backups", { retnetion: false }, "bad_request"],
      ["POST", "/backups", [1, 2], "bad_request"],
      ["POST", "/retention", { dryRun: "no" }, "bad_request"],
      ["POST", "/retention", "null", "bad_request"],
    ];
    for (const [method, p, body, code] of cases) {
      const r = await call(url + p, method, body);
      expect(r.status, `${method} ${p} ${JSON.stringify(body)}`).toBe(400);
      expect(r.json).toMatchObject({ code, message: expect.any(String) });
    }
  });

  it("configuration problems are answered with a sentence, not a 500", async () => {
    const { url } = await startAgent("no-pass", { LIFEBOAT_PASSPHRASE_FILE: path.join(work, "missing") });
    const r = await call(url + "/backups", "POST", {});
    expect(r.status).toBe(503);
    expect(r.json).toMatchObject({ code: "not_configured", message: expect.stringMatching(/LIFEBOAT_PASSPHRASE_FILE/) });
    const { url: u2 } = await startAgent("x", { AWS_S3_ENDPOINT: "http://127.0.0.1:9" });
    const l = await call(u2 + "/backups", "GET");
    expect(l.status).toBe(502);
    expect(l.json).toMatchObject({ code: "storage_unreachable", message: expect.stringMatching(/cannot reach/) });
    const { url: u3 } = await startAgent("x", { LIFEBOAT_K3S_SERVER_DIR: path.join(work, "nowhere") });
    const st = await call(u3 + "/stats", "GET");
    expect(st.status).toBe(503);
    expect(st.json).toMatchObject({ code: "snapshot_missing", message: expect.stringMatching(/no database at/i) });
  });
});

describe("POST /backups → job → set in the store", () => {
  it("returns 202 with a job id, refuses a second backup with 409 naming the running job, and the job reports steps and bytes", async () => {
    const { url } = await startAgent("api-backup");
    const first = await call(url + "/backups", "POST", {});
    expect(first.status).toBe(202);
    expect(first.json).toEqual({ jobId: expect.any(String) });
    const second = await call(url + "/backups", "POST", { retention: false });
    expect(second.status).toBe(409);
    expect(second.json).toMatchObject({ code: "job_running", jobId: first.json.jobId, message: expect.stringMatching(/already running/) });

    const job = await waitForJob(url, first.json.jobId);
    expect(job.error).toBeNull();
    expect(job.state).toBe("succeeded");
    expect(job.type).toBe("backup");
    expect(job.steps.map((s) => s.name)).toEqual(["check", "snapshot", "upload", "integrity", "stats", "manifest", "retention"]);
    expect(job.steps.every((s) => s.state === "done")).toBe(true);
    expect(job.steps.find((s) => s.name === "integrity")!.detail).toMatch(/integrity_check: ok/);
    expect(job.bytesTotal).toBeGreaterThan(1_000_000);
    expect(job.bytesDone).toBe(job.bytesTotal);
    const result = BackupResult.parse(job.result);

    const list = await call(url + "/backups", "GET");
    expect(list.status).toBe(200);
    const parsed = BackupList.parse(list.json);
    expect(parsed.sets.map((s) => s.id)).toEqual([result.setId]);
    expect(parsed.sets[0].complete).toBe(true);
    expect(parsed.schedule).toEqual({ cron: null, nextRunAt: null });
    expect(parsed.source).toMatch(/^s3:\/\/backups\/api-backup at http:\/\/127\.0\.0\.1:/);

    // After the first finished, a new backup may start.
    const third = await call(url + "/backups", "POST", { retention: false });
    expect(third.status).toBe(202);
    expect((await waitForJob(url, third.json.jobId)).state).toBe("succeeded");
  });

  it("a failed backup job says why, and leaves no objects behind", async () => {
    const dir = path.join(work, "bad-server");
    const bad = makeTestServerDir(dir, { targetBytes: 300_000 });
    writeFileSync(bad.dbPath, "not a database at all".repeat(100));
    const { url } = await startAgent("api-fail", { LIFEBOAT_K3S_SERVER_DIR: bad.serverDir });
    const r = await call(url + "/backups", "POST", {});
    expect(r.status).toBe(202);
    const job = await waitForJob(url, r.json.jobId);
    expect(job.state).toBe("failed");
    expect(job.error).toMatch(/not a SQLite database.*No manifest was uploaded/);
    expect(job.steps.find((s) => s.name === "snapshot")!.state).toBe("failed");
    expect((await call(url + "/backups", "GET")).json.sets).toEqual([]);
  });

  it("GET /stats answers with statistics of a fresh snapshot", async () => {
    const { url } = await startAgent("api-stats");
    const r = await call(url + "/stats", "GET");
    expect(r.status).toBe(200);
    const s = LiveStats.parse(r.json);
    expect(s.stats.rowCount).toBe(server.generated.rows);
    expect(s.snapshot.method).toBe("vacuum-into");
  });

  it("GET /backups reports the next scheduled run (UTC)", async () => {
    const { url } = await startAgent("api-sched", { LIFEBOAT_BACKUP_SCHEDULE: "30 2 * * *" });
    const r = BackupList.parse((await call(url + "/backups", "GET")).json);
    expect(r.schedule.cron).toBe("30 2 * * *");
    expect(r.schedule.nextRunAt).toMatch(/T02:30:00\.000Z$/);
  });
});

describe("POST /retention", () => {
  it("dry run lists what would go and why; a real run deletes exactly that (whole sets of either layout), never seed, incomplete or the newest set", async () => {
    const prefix = "api-retention";
    const store = new S3BackupStore({ endpoint: s3.endpoint, bucket: "backups", prefix, accessKeyId: "S3RVER", secretAccessKey: "S3RVER" });
    const put = (key: string) => store.put(key, Readable.from([Buffer.from("x")]));
    const day = (n: number) => new Date(Date.UTC(2024, 11, 1 + n, 0, 0, 0));
    // Days 0-5 in the two-copy layout written before issue 15, days 6-9 in the one-copy layout.
    const names = (n: number) => Object.values(n < 6 ? twoCopyLifeboatObjectNames(day(n)) : lifeboatObjectNames(day(n)));
    for (let n = 0; n < 10; n++) for (const key of names(n)) await put(key);
    const incomplete = lifeboatObjectNames(day(12));
    await put(incomplete.logical); // a backup still uploading: no manifest yet
    for (const n of [0, 1]) for (const key of Object.values(seedObjectNames(day(n)))) await put(key);
    await put("notes/readme.txt");

    const { url } = await startAgent(prefix, { LIFEBOAT_KEEP_LAST: "3", LIFEBOAT_KEEP_DAILY: "0", LIFEBOAT_KEEP_WEEKLY: "0", LIFEBOAT_KEEP_MONTHLY: "0" });
    const dry = RetentionReport.parse((await call(url + "/retention", "POST", { dryRun: true })).json);
    expect(dry.summary).toEqual({ keep: 3, delete: 7, ignore: 3 });
    expect(dry.deleted).toEqual([]);
    const doomed = dry.sets.filter((d) => d.action === "delete");
    expect(doomed.map((d) => d.setId)).toEqual([6, 5, 4, 3, 2, 1, 0].map((n) => `lifeboat-2024-12-0${1 + n}_00-00-00`));
    expect(doomed[0].reasons[0]).toMatch(/not among the last 3 sets/);
    const before: string[] = [];
    for await (const o of listAll(store)) before.push(o.key);
    expect(before).toHaveLength(6 * 4 + 4 * 3 + 1 + 4 + 1);
    expect(doomed.map((d) => d.keys.length)).toEqual([3, 4, 4, 4, 4, 4, 4]);

    // The default is a dry run.
    expect(RetentionReport.parse((await call(url + "/retention", "POST", {})).json).dryRun).toBe(true);

    const real = RetentionReport.parse((await call(url + "/retention", "POST", { dryRun: false })).json);
    expect(real.failed).toEqual([]);
    expect([...real.deleted].sort()).toEqual(doomed.flatMap((d) => d.keys).sort());
    const after: string[] = [];
    for await (const o of listAll(store)) after.push(o.key);
    expect(after.sort()).toEqual(before.filter((k) => !real.deleted.includes(k)).sort());
    for (const k of [incomplete.logical, "notes/readme.txt", ...Object.values(seedObjectNames(day(0))), ...Object.values(lifeboatObjectNames(day(9)))])
      expect(after).toContain(k);
  });
});

describe("the dashboard's AgentClient against a real agent", () => {
  it("starts a backup, joins a running one, follows the job, lists, plans retention and reads stats", async () => {
    const { url } = await startAgent("client");
    const client = new AgentClient({ baseUrl: url, token: TOKEN });
    const first = await client.startBackup();
    expect(first.alreadyRunning).toBe(false);
    const again = await client.startBackup({ retention: false });
    expect(again).toEqual({ jobId: first.jobId, alreadyRunning: true });
    let job = await client.job(first.jobId);
    while (job.state === "running") {
      await new Promise((r) => setTimeout(r, 100));
      job = await client.job(first.jobId);
    }
    expect(job.state).toBe("succeeded");
    const list = await client.listBackups();
    expect(list.sets.map((s) => s.id)).toEqual([BackupResult.parse(job.result).setId]);
    const plan = await client.retention();
    expect(plan).toMatchObject({ dryRun: true, summary: { keep: 1, delete: 0, ignore: 0 } });
    expect((await client.liveStats()).stats.rowCount).toBeGreaterThan(0);
  });

  it("rejects with AgentError: the agent's 401 for a wrong token (without the token in the message), 0 when unreachable; both answered 502 by the dashboard", async () => {
    const { url } = await startAgent("client-bad");
    const err = await new AgentClient({ baseUrl: url, token: "nope-nope" }).listBackups().catch((e) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect(err).toMatchObject({ code: "agent_auth", agentStatus: 401, status: 502 });
    expect(err.message).not.toContain("nope-nope");
    const down = await new AgentClient({ baseUrl: "http://127.0.0.1:9", token: TOKEN }).startBackup().catch((e) => e);
    expect(down).toBeInstanceOf(AgentError);
    expect(down).toMatchObject({ code: "agent_unreachable", agentStatus: 0, status: 502 });
    expect(down.message).toMatch(/Cannot reach the agent/);
  });
});

describe("the agent's S3 store loads the AWS SDK on first use", () => {
  it("describes itself exactly like S3BackupStore and works the same", async () => {
    for (const cfg of [
      { endpoint: s3.endpoint, bucket: "backups", prefix: "/lazy/x/" },
      { bucket: "b", prefix: "" },
      { endpoint: "https://s3.example.com", bucket: "b" },
    ]) {
      expect(new LazyS3BackupStore(cfg).description).toBe(new S3BackupStore(cfg).description);
    }
    const lazy = new LazyS3BackupStore({ endpoint: s3.endpoint, bucket: "backups", prefix: "lazy", accessKeyId: "S3RVER", secretAccessKey: "S3RVER" });
    await lazy.put("a.txt", Readable.from([Buffer.from("hello")]));
    expect((await lazy.head("a.txt")).size).toBe(5);
    expect((await lazy.list()).objects.map((o) => o.key)).toEqual(["a.txt"]);
  });
});

describe("scheduled backups", () => {
  it("serve runs backups on LIFEBOAT_BACKUP_SCHEDULE through the same job path", async () => {
    // The schedule starts with the modules, as in `serve` (startAgent above does not start them).
    const config = agentConfig("scheduled", { LIFEBOAT_BACKUP_SCHEDULE: "*/2 * * * * *" });
    const served = buildAgentApp(makeDeps(config));
    apps.push(served);
    const { url: servedUrl } = await served.listen(0, "127.0.0.1", true);
    let jobs: Job[] = [];
    for (let i = 0; i < 100 && !jobs.some((j) => j.type === "backup" && j.state === "succeeded"); i++) {
      await new Promise((r) => setTimeout(r, 200));
      jobs = (await call(`${servedUrl}/jobs`, "GET")).json.jobs;
    }
    const done = jobs.find((j) => j.type === "backup" && j.state === "succeeded");
    expect(done, JSON.stringify(jobs)).toBeDefined();
    const list = BackupList.parse((await call(`${servedUrl}/backups`, "GET")).json);
    expect(list.sets.map((s) => s.id)).toContain(BackupResult.parse(done!.result).setId);
    expect(list.schedule.cron).toBe("*/2 * * * * *");
    await served.close();
    apps.splice(apps.indexOf(served), 1);
  });

  it("an invalid schedule stops serve with a message naming LIFEBOAT_BACKUP_SCHEDULE", async () => {
    const config = loadAgentConfig({
      LIFEBOAT_K3S_SERVER_DIR: server.serverDir,
      LIFEBOAT_AGENT_TOKEN: TOKEN,
      LIFEBOAT_BACKUP_SCHEDULE: "every day",
      LOG_LEVEL: "silent",
    });
    const app = buildAgentApp(makeDeps(config));
    apps.push(app);
    const err = await app.listen(0, "127.0.0.1", true).catch((e) => e);
    expect(err).toBeInstanceOf(AgentConfigError);
    expect(err.message).toMatch(/^LIFEBOAT_BACKUP_SCHEDULE: "every day" is not a cron expression/);
  });
});
