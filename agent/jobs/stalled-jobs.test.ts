import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { startEmbeddedS3, type EmbeddedS3 } from "../../lib/storage/embedded-s3";
import { S3BackupStore } from "../../lib/storage";
import type { BackupResult } from "../../lib/contracts/agent-backup";
import type { Job } from "../../lib/contracts/agent-jobs";
import { startBackupJob } from "../backup/run-backup";
import { loadAgentConfig } from "../config";
import { makeDeps } from "../deps";
import type { AgentDeps } from "../module";
import { runDrill } from "../testing/drills";
import { agentEnvFor, makeTestServer, type TestServer } from "../testing/restore-fixtures";
import { startStallingProxy, type StallingProxy } from "../testing/stalling-proxy";
import { JobRegistry } from "./job-registry";

/**
 * LIFEBOAT_JOB_STALL_SECONDS: a job that makes no progress fails as stalled, with a sentence, and
 * gives back what it held (the datastore lock, its job group). The stalls are real: s3rver behind a
 * proxy that stops passing a response in the middle (agent/testing/stalling-proxy.ts), as a store
 * that stops answering does.
 */

const KEY = "stall-key";
const SECRET = "stall-secret-Pq7";
let s3: EmbeddedS3;
let proxy: StallingProxy;
let dropping: StallingProxy;
let work: string;
let server: TestServer;
let set: BackupResult;
/** The same server's set in the two-copy layout written before issue 15 (its server archive stalls mid-body). */
let twoCopy: BackupResult;

const depsFor = (endpoint: string, extra: Record<string, string> = {}): AgentDeps =>
  makeDeps(
    loadAgentConfig({
      ...agentEnvFor(server),
      AWS_S3_ENDPOINT: endpoint,
      AWS_S3_BUCKET: "backups",
      AWS_ACCESS_KEY_ID: KEY,
      AWS_SECRET_ACCESS_KEY: SECRET,
      LIFEBOAT_PASSPHRASE_FILE: path.join(work, "pass"),
      LIFEBOAT_JOB_STALL_SECONDS: "2",
      ...extra,
    }),
    { logDestination: pino.destination("/dev/null") },
  );

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-stall-"));
  writeFileSync(path.join(work, "pass"), "stall passphrase\n");
  s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["backups"], accessKeyId: KEY, secretAccessKey: SECRET });
  server = makeTestServer(path.join(work, "server"), { seed: 51, marker: "marker-stall" });
  const first = await startBackupJob(depsFor(s3.endpoint), { retention: false, allowNewPassphrase: true }, "cli").done;
  expect(first.state, first.error ?? "").toBe("succeeded");
  set = first.result as BackupResult;
  const second = await startBackupJob(depsFor(s3.endpoint), { retention: false, allowNewPassphrase: false, layout: "two-copies" }, "cli").done;
  expect(second.state, second.error ?? "").toBe("succeeded");
  twoCopy = second.result as BackupResult;
  // Downloads of the set's server archive stall after 2 kB (in its body); downloads and uploads of database archives get no answer at all.
  proxy = await startStallingProxy({ host: "127.0.0.1", port: s3.port }, [
    { stall: /^GET \S+_server\.tar\.zst\.gpg/, afterBytes: 2048 },
    { stall: /^GET \S+_state\.db\.zst\.gpg/, afterBytes: 0 },
    { stall: /^PUT \S+_state\.db\.zst\.gpg/, afterBytes: 0 },
  ]);
  // The store goes away instead: the server archive's download is cut after 2 kB, uploads of secrets archives get the connection closed.
  dropping = await startStallingProxy({ host: "127.0.0.1", port: s3.port }, [
    { stall: /^GET \S+_server\.tar\.zst\.gpg/, afterBytes: 2048, reset: true },
    { stall: /^PUT \S+_secrets\.tar\.zst\.gpg/, afterBytes: 0, reset: true },
  ]);
}, 120_000);

afterAll(async () => {
  await proxy?.close();
  await dropping?.close();
  await s3?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("a stalled job fails as stalled and gives back what it held", () => {
  it("a drill whose download stops mid-way: failed after LIFEBOAT_JOB_STALL_SECONDS with a sentence, the lock released, the next drill runs", async () => {
    const deps = depsFor(proxy.endpoint);
    const t0 = Date.now();
    const job = await runDrill(deps, { kind: "backup", setId: twoCopy.setId });
    const took = Date.now() - t0;
    expect(proxy.stalled.some((l) => l.includes(twoCopy.keys.files!))).toBe(true);
    expect(job.state).toBe("failed");
    expect(job.error).toMatch(
      /^The drill made no progress for 2 s during "Download and unpack" and was stopped \(LIFEBOAT_JOB_STALL_SECONDS\)\..* Nothing on the server changed\.$/,
    );
    expect(took).toBeGreaterThanOrEqual(2000);
    expect(took).toBeLessThan(15_000);
    expect(existsSync(path.join(deps.config.stateDir, "restores", ".lock"))).toBe(false);
    expect(deps.jobs.runningIn("datastore")).toBeUndefined();
    // The same agent drills the same set straight from the store.
    const direct = depsFor(s3.endpoint);
    const next = await runDrill(direct, { kind: "backup", setId: twoCopy.setId });
    expect(next.state, next.error ?? "").toBe("succeeded");
  });

  it("a drill whose download gets no answer at all (not even headers): failed as stalled all the same", async () => {
    const deps = depsFor(proxy.endpoint);
    const job = await runDrill(deps, { kind: "object", key: set.keys.logical });
    expect(proxy.stalled.some((l) => l.includes(set.keys.logical))).toBe(true);
    expect(job.state).toBe("failed");
    expect(job.error).toMatch(/^The drill made no progress for 2 s during "Download and unpack" and was stopped.* Nothing on the server changed\.$/);
    expect(existsSync(path.join(deps.config.stateDir, "restores", ".lock"))).toBe(false);
  });

  it("a backup whose upload gets no answer: failed as stalled, no manifest; the next backup runs", async () => {
    const deps = depsFor(proxy.endpoint);
    const job = await startBackupJob(deps, { retention: false, allowNewPassphrase: false }, "cli").done;
    expect(job.state).toBe("failed");
    expect(job.error).toMatch(/^The backup made no progress for 2 s during "Upload database and server files" and was stopped/);
    expect(deps.jobs.runningIn("backup")).toBeUndefined();
    const store = new S3BackupStore({ endpoint: s3.endpoint, bucket: "backups", accessKeyId: KEY, secretAccessKey: SECRET, region: "us-east-1" });
    const manifests = (await store.list()).objects.filter((o) => o.key.endsWith("_manifest.json"));
    expect(manifests.map((o) => o.key)).toEqual([set.keys.manifest, twoCopy.keys.manifest]);
    const again = await startBackupJob(depsFor(s3.endpoint), { retention: false, allowNewPassphrase: false }, "cli").done;
    expect(again.state, again.error ?? "").toBe("succeeded");
  });

  it("the registry: no progress ends a job at once; progress (bytes, steps, touch) keeps it alive; 0 turns the watchdog off", async () => {
    const reg = new JobRegistry({ stallMs: 300 });
    const quiet = reg.start({
      type: "backup",
      group: "g",
      steps: [{ name: "a", label: "Waiting" }],
      run: (job) => (job.step("a"), new Promise<void>(() => {})),
    });
    const failed: Job = await quiet.done;
    expect(failed.state).toBe("failed");
    expect(failed.error).toMatch(/^The backup made no progress for 0 s during "Waiting"/);
    expect(reg.runningIn("g")).toBeUndefined();
    const busy = reg.start({
      type: "backup",
      group: "g",
      steps: [],
      run: async (job) => {
        for (let i = 0; i < 10; i++) {
          await new Promise((r) => setTimeout(r, 100));
          if (i % 2) job.touch();
          else job.progress(i * 1000);
        }
        return "done";
      },
    });
    expect((await busy.done).state).toBe("succeeded");
    const off = new JobRegistry({ stallMs: 0 });
    const slow = off.start({ type: "backup", group: "g", steps: [], run: () => new Promise((r) => setTimeout(() => r("late"), 700)) });
    expect((await slow.done).state).toBe("succeeded");
  });
});

describe("a store that goes away mid-transfer ends the job with a sentence", () => {
  it("a drill whose download is cut off: the store is named as the cause, not the backup", async () => {
    const deps = depsFor(dropping.endpoint);
    const job = await runDrill(deps, { kind: "backup", setId: twoCopy.setId });
    expect(dropping.stalled.some((l) => l.includes(twoCopy.keys.files!))).toBe(true);
    expect(job.state).toBe("failed");
    expect(job.error).toMatch(
      /^Reading \S+_server\.tar\.zst\.gpg from the store failed: .+\. Check the store and the network, then try again\. Nothing on the server changed\.$/,
    );
    expect(existsSync(path.join(deps.config.stateDir, "restores", ".lock"))).toBe(false);
  });

  it("a backup whose upload loses its connection: failed with the store's words, no manifest", async () => {
    const store = new S3BackupStore({ endpoint: s3.endpoint, bucket: "backups", accessKeyId: KEY, secretAccessKey: SECRET, region: "us-east-1" });
    const manifests = async () => (await store.list()).objects.filter((o) => o.key.endsWith("_manifest.json")).map((o) => o.key);
    const before = await manifests();
    const job = await startBackupJob(depsFor(dropping.endpoint), { retention: false, allowNewPassphrase: false }, "cli").done;
    expect(job.state).toBe("failed");
    expect(job.error).toMatch(
      /^The backup store failed: s3: put \S+_secrets\.tar\.zst\.gpg .*\. No manifest was uploaded, so nothing from this run counts as a backup\.$/,
    );
    expect(await manifests()).toEqual(before);
  });
});
