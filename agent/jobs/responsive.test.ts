import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { startEmbeddedS3, type EmbeddedS3 } from "../../lib/storage/embedded-s3";
import { S3BackupStore } from "../../lib/storage";
import { startProcess, waitForListening, type RunningProcess } from "../../lib/process";
import type { Job } from "../../lib/contracts/agent-jobs";
import { simulatedK3sCommands } from "../demo/simulated-k3s";
import { probeLivez } from "../testing/livez-probe";
import { agentEnvFor, makeTestServer, runK3s, type TestServer } from "../testing/restore-fixtures";

/**
 * The agent keeps answering while it works: `lifeboat-agent serve` (the installed bundle) on a
 * server whose simulated k3s writes all the while, with a small (1.5 MB) and a large (60 MB, its
 * compaction stuck so every row stays) database, runs a backup, a drill, a drill of a damaged
 * object, a restore and a health check, while this test asks /livez every 20 ms. No probe may wait
 * 100 ms for the agent's own work (agent/testing/livez-probe.ts tells that apart from a busy
 * machine). Before the SQLite copies and checks moved to worker threads, the large database's
 * VACUUM INTO, statistics, quick_check and comparison each held the main thread for 50-800 ms; later
 * (CI, 103-112 ms in the backup) the passphrase key derivations of both uploads ran back to back in
 * one go, the log's first read after the first backup fetched 5,000 rows it then dropped, and each
 * 5 MiB part went to the socket in one write (see s2k-slices.test.ts and s3-backup-store.ts).
 */

const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(ROOT, "agent/bin/lifeboat-agent.js");
const KEY = "livez-key";
const SECRET = "livez-secret-Hy4";
const TOKEN = "livez-agent-token-0123456789abcdef";
let s3: EmbeddedS3;
let work: string;

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-livez-"));
  writeFileSync(path.join(work, "pass"), "livez passphrase\n");
  s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["backups"], accessKeyId: KEY, secretAccessKey: SECRET });
}, 60_000);
afterAll(async () => {
  await s3?.stop();
  rmSync(work, { recursive: true, force: true });
});

async function call(url: string, method: string, p: string, body?: unknown): Promise<any> {
  const res = await fetch(url + p, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return res.json();
}

async function finished(url: string, jobId: string): Promise<Job> {
  for (;;) {
    const job = (await call(url, "GET", `/jobs/${jobId}`)) as Job;
    if (job.state !== "running") return job;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("the agent answers /livez within 100 ms during every job", () => {
  for (const size of [
    { name: "small", bytes: 1_500_000 },
    { name: "large", bytes: 60_000_000 },
  ]) {
    it(`a ${size.name} database: backup, drill, drill of a damaged object, restore, health`, async () => {
      // A directory and a store prefix of their own per attempt: a retry must not find the first attempt's.
      const root = mkdtempSync(path.join(work, `${size.name}-`));
      const prefix = path.basename(root);
      const server: TestServer = makeTestServer(root, {
        seed: 61,
        marker: `marker-${size.name}`,
        targetBytes: size.bytes,
        compaction: "stuck",
      });
      // kine's compaction off: the live database keeps every row, so the copies and checks are as big as the file.
      server.k3s = simulatedK3sCommands(server.serverDir, { intervalMs: 100, compactEveryMs: 0 });
      runK3s(server, "start");
      let agent: RunningProcess | undefined;
      try {
        agent = startProcess(process.execPath, [BIN, "serve"], {
          env: {
            ...process.env,
            PATH: process.env.PATH,
            HOME: process.env.HOME,
            ...agentEnvFor(server),
            AWS_S3_ENDPOINT: s3.endpoint,
            AWS_S3_BUCKET: "backups",
            AWS_S3_PATH: prefix,
            AWS_ACCESS_KEY_ID: KEY,
            AWS_SECRET_ACCESS_KEY: SECRET,
            LIFEBOAT_PASSPHRASE_FILE: path.join(work, "pass"),
            LIFEBOAT_AGENT_TOKEN: TOKEN,
            LIFEBOAT_AGENT_HOST: "127.0.0.1",
            LIFEBOAT_AGENT_PORT: "0",
            LIFEBOAT_AGENT_INSECURE_HTTP: "true", // plain HTTP on loopback: the probe times /livez, not TLS
            LOG_LEVEL: "warn",
          },
        });
        const url = await waitForListening(agent);
        // The S3 SDK's code loads on the store's first use in a process, in one 60-100 ms piece of
        // compiling and running it (agent/store.ts; loading it at start would cost an idle agent ~25 MB).
        // That happens once per process, not per job: the store is listed first, so what the probes
        // measure is the jobs' own work.
        expect((await call(url, "GET", "/backups")).sets).toEqual([]);
        const probe = probeLivez(url, agent.child.pid!);
        probe.phase("backup");
        const backup = await finished(url, (await call(url, "POST", "/backups", {})).jobId);
        expect(backup.state, backup.error ?? "").toBe("succeeded");
        const setId = (backup.result as { setId: string }).setId;
        probe.phase("drill");
        const drill = await finished(url, (await call(url, "POST", "/restores", { source: { kind: "backup", setId }, dryRun: true })).jobId);
        expect(drill.state, drill.error ?? "").toBe("succeeded");
        probe.phase("damaged drill");
        const store = new S3BackupStore({
          endpoint: s3.endpoint,
          bucket: "backups",
          prefix,
          accessKeyId: KEY,
          secretAccessKey: SECRET,
          region: "us-east-1",
        });
        const parts: Buffer[] = [];
        for await (const c of await store.get(`${setId.replace("lifeboat-", "lifeboat_")}_state.db.zst.gpg`)) parts.push(c as Buffer);
        const whole = Buffer.concat(parts);
        await store.put("lifeboat_2033-01-01_00-00-00_state.db.zst.gpg", Readable.from([whole.subarray(0, Math.floor(whole.length * 0.7))]));
        const damaged = await finished(
          url,
          (await call(url, "POST", "/restores", { source: { kind: "object", key: "lifeboat_2033-01-01_00-00-00_state.db.zst.gpg" }, dryRun: true })).jobId,
        );
        expect(damaged.state).toBe("failed");
        probe.phase("restore");
        const restore = await finished(url, (await call(url, "POST", "/restores", { source: { kind: "backup", setId }, confirm: true })).jobId);
        expect(restore.state, restore.error ?? "").toBe("succeeded");
        probe.phase("health");
        expect((await call(url, "GET", "/health")).verdict).toBeDefined();
        const stats = await probe.stop();
        console.log(
          `/livez during jobs on the ${size.name} database (ms):\n` +
            Object.entries(stats)
              .map(
                ([p, s]) =>
                  `  ${p.padEnd(14)} ${String(s.probes).padStart(4)} probes  p50 ${s.p50Ms.toFixed(0)}  p99 ${s.p99Ms.toFixed(0)}  max ${s.maxMs.toFixed(0)}  blocked by the agent ${s.maxBlockedMs.toFixed(0)}`,
              )
              .join("\n"),
        );
        for (const [phase, s] of Object.entries(stats)) expect(s.maxBlockedMs, `${phase}: the agent's main thread held /livez`).toBeLessThan(100);
      } finally {
        await agent?.stop();
        runK3s(server, "stop");
      }
    }, 240_000);
  }
});
