import { describe, it, expect, beforeAll, afterAll } from "vitest";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startEmbeddedS3, type EmbeddedS3 } from "../../lib/storage/embedded-s3";
import { S3BackupStore } from "../../lib/storage";
import { startProcess, runProcess, waitForListening } from "../../lib/process";
import { ContinuousStatus } from "../../lib/contracts/continuous";
import { RestoreRecord } from "../../lib/contracts/agent-restore";
import { spawnKineWriter, type RunningKineWriter } from "../testing/kine-writer-process";
import { agentEnvFor, makeTestServer, waitFor, type TestServer } from "../testing/restore-fixtures";
import { startStallingProxy, type StallingProxy } from "../testing/stalling-proxy";
import { dumpKine, logProblems, shippingServeEnv, storedSegments } from "../testing/continuous-fixtures";

/**
 * A real `lifeboat-agent serve` shipping the log, killed with SIGKILL in the middle of a segment's
 * upload (the store took the bytes, its answer never came), then started again: the same segment is
 * uploaded again under the same name and the log goes on: no gap, no duplicate. Then the CLI restores
 * to a point (`restore latest --to-revision N --dry-run`).
 */

const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(ROOT, "agent/bin/lifeboat-agent.js");
const TOKEN = "continuous-serve-test-token-0123456789";
let work: string;
let s3: EmbeddedS3;
let proxy: StallingProxy;
let server: TestServer;
let writer: RunningKineWriter;
const agents: ChildProcess[] = [];

function env(endpoint: string, on: TestServer = server, prefix = "serve"): Record<string, string> {
  return {
    PATH: process.env.PATH!,
    HOME: process.env.HOME ?? "/root",
    ...agentEnvFor(on),
    LIFEBOAT_PASSPHRASE_FILE: path.join(work, "passphrase"),
    ...shippingServeEnv(endpoint, prefix, TOKEN, "1"),
  };
}

async function serve(endpoint: string, on: TestServer = server, prefix = "serve"): Promise<{ url: string; proc: ChildProcess }> {
  const running = startProcess(process.execPath, [BIN, "serve"], { env: env(endpoint, on, prefix) as unknown as NodeJS.ProcessEnv, group: false });
  agents.push(running.child);
  const url = await waitForListening(running, { timeoutMs: 60_000, what: "the agent" });
  return { url, proc: running.child };
}

async function status(url: string): Promise<ContinuousStatus> {
  const res = await fetch(`${url}/continuous`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return ContinuousStatus.parse(await res.json());
}

const store = () =>
  new S3BackupStore({ endpoint: s3.endpoint, bucket: "backups", prefix: "serve", region: "us-east-1", accessKeyId: "S3RVER", secretAccessKey: "S3RVER" });

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-log-serve-"));
  writeFileSync(path.join(work, "passphrase"), "serve log passphrase\n");
  s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["backups"] });
  const port = Number(new URL(s3.endpoint).port);
  // Segment uploads reach s3rver, their answers are held back: the agent dies between upload and record.
  proxy = await startStallingProxy({ host: "127.0.0.1", port }, [{ stall: /^PUT \S*lifeboat-log_\S+\.sql\.zst\.gpg/, afterBytes: 0 }]);
  server = makeTestServer(path.join(work, "k3s"), { seed: 31, marker: "marker-SERVE" });
  writer = await spawnKineWriter({ db: server.dbPath, intervalMs: 50, compactEveryMs: 1500, seed: 31 });
}, 60_000);

afterAll(async () => {
  for (const a of agents) if (a.exitCode === null && a.signalCode === null) a.kill("SIGKILL");
  writer?.process.kill("SIGCONT");
  await writer?.stop().catch(() => {});
  await proxy?.close();
  await s3?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("serve ships the log (real agent process)", () => {
  it("SIGKILL between a segment's upload and its record: the same segment again on restart, no gap, no duplicate; then restore to a point with the CLI", async () => {
    const doomed = await serve(proxy.endpoint);
    // The log waits for its first base: a backup set (here asked for; else the nightly one).
    await waitFor(async () => (/first backup set/.test((await status(doomed.url)).problem ?? "") ? true : undefined), 30_000, "the log waiting for a base");
    const started = await fetch(`${doomed.url}/backups`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(started.status).toBe(202);
    await waitFor(() => (proxy.stalled.length > 0 ? true : undefined), 90_000, "a segment upload held");
    const stalledKey = /lifeboat-log_\S+\.sql\.zst\.gpg/.exec(proxy.stalled[0])![0];
    await waitFor(async () => ((await storedSegments(store())).some((s) => s.key === stalledKey) ? true : undefined), 30_000, "the bytes stored");
    const before = await status(doomed.url);
    expect(before.segments).toBe(0); // uploaded, never recorded
    doomed.proc.kill("SIGKILL");
    await new Promise((r) => doomed.proc.once("exit", r));
    const spool = path.join(server.root, "lifeboat", "continuous", "spool");
    expect(readdirSync(spool)).toContain(stalledKey);

    const agent = await serve(s3.endpoint);
    await waitFor(async () => ((await status(agent.url)).segments >= 3 ? true : undefined), 60_000, "three segments after the restart");
    writer.process.kill("SIGSTOP");
    const live = dumpKine(server.dbPath).revision;
    await waitFor(async () => ((await status(agent.url)).shippedRevision === live ? true : undefined), 30_000, "the log caught up");
    writer.process.kill("SIGCONT");
    const st = await status(agent.url);
    expect(st.generation).toBe(before.generation); // the crash did not start a new generation
    expect(st.lagSeconds).toBeLessThan(15);
    const segs = await storedSegments(store());
    expect(segs.filter((s) => s.key === stalledKey)).toHaveLength(1);
    expect(segs[0].key).toBe(stalledKey);
    const base = (JSON.parse(readFileSync(path.join(server.root, "lifeboat", "continuous", "position.json"), "utf8")) as { baseRevision: number }).baseRevision;
    expect(logProblems(segs, base)).toEqual([]);
    agent.proc.kill("SIGTERM");
    await new Promise((r) => agent.proc.once("exit", r));

    // The CLI: a drill to a point in the middle of the log.
    const target = segs[Math.floor(segs.length / 2)].last;
    const run = await runProcess(process.execPath, [BIN, "restore", "latest", "--to-revision", String(target), "--dry-run"], {
      env: { ...env(s3.endpoint), LOG_LEVEL: "silent" } as unknown as NodeJS.ProcessEnv,
      timeoutMs: 120_000,
    });
    expect(run.code, run.stderr).toBe(0);
    const rec = RestoreRecord.parse(JSON.parse(run.stdout));
    expect(rec.status).toBe("succeeded");
    expect(rec.point?.revision).toBe(target);
    expect(rec.verification?.stats?.currentRevision).toBe(target);
    expect(rec.diff?.summary).toMatch(/^Restoring to \d\d:\d\d:\d\d UTC \(revision \d+\)/);
    const bad = await runProcess(process.execPath, [BIN, "restore", "latest", "--to-revision", String(live + 100000), "--dry-run"], {
      env: { ...env(s3.endpoint), LOG_LEVEL: "silent" } as unknown as NodeJS.ProcessEnv,
      timeoutMs: 120_000,
    });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/reaches revision \d+/);
  }, 300_000);

  it("a backup run as a process of its own (a timer, a CronJob) becomes the first base of the log of a serve waiting for one", async () => {
    const cron = makeTestServer(path.join(work, "k3s-cron"), { seed: 32, marker: "marker-CRON" });
    const agent = await serve(s3.endpoint, cron, "cron");
    await waitFor(async () => (/first backup set/.test((await status(agent.url)).problem ?? "") ? true : undefined), 30_000, "the log waiting for a base");
    const run = await runProcess(process.execPath, [BIN, "backup", "--no-retention"], {
      env: { ...env(s3.endpoint, cron, "cron"), LOG_LEVEL: "silent" } as unknown as NodeJS.ProcessEnv,
      timeoutMs: 120_000,
    });
    expect(run.code, run.stderr).toBe(0);
    const setId = (JSON.parse(run.stdout) as { setId: string }).setId;
    await waitFor(async () => ((await status(agent.url)).baseSetId === setId ? true : undefined), 30_000, "the CLI's set as the log's base");
    const st = await status(agent.url);
    expect(st.generationReason).toContain(`backup set ${setId} is the base`);
    expect(st.problem).toBeNull();
    // Taken once: the offer is gone.
    expect(existsSync(path.join(cron.root, "lifeboat", "continuous", "base-offer.json"))).toBe(false);
    agent.proc.kill("SIGTERM");
    await new Promise((r) => agent.proc.once("exit", r));
  }, 180_000);
});
