import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import pino from "pino";
import { startEmbeddedS3, type EmbeddedS3 } from "../storage/embedded-s3";
import { S3BackupStore, listAll } from "../storage";
import { groupObjects } from "../backups/grouping";
import { openDatabase, type Db } from "../db/database";
import { AgentClient } from "../agent/agent-client";
import type { BackupResult } from "../contracts/agent-backup";
import { loadAgentConfig } from "../../agent/config";
import { makeDeps } from "../../agent/deps";
import { buildAgentApp, type AgentApp } from "../../agent/server";
import { addMarker, agentEnvFor, makeTestServer, type TestServer } from "../../agent/testing/restore-fixtures";
import { DrillService, type DrillableSet } from "./drill-service";
import { DrillStore, QUEUED_REASON } from "./drill-store";

/**
 * The drill service against a real agent (in this process, on a loopback port) with a real server
 * directory and backup sets made by the agent's backup pipeline in a real s3rver — plus one set
 * whose archive is not an OpenPGP message, which must fail its drill with the agent's reason.
 */

const TOKEN = "drill-test-agent-token-0123456789ab";
const KEY = "drill-key";
const SECRET = "drill-secret-9x";
let s3: EmbeddedS3;
let work: string;
let server: TestServer;
let app: AgentApp;
let agentUrl: string;
let db: Db;
const good: string[] = [];
const BAD = "seed-2020-01-01_00-00-00";

const silent = pino({ level: "silent" });
const store = () =>
  new S3BackupStore({ endpoint: s3.endpoint, bucket: "backups", prefix: "k3s", accessKeyId: KEY, secretAccessKey: SECRET, region: "us-east-1" });

async function catalogSets(): Promise<DrillableSet[]> {
  const objects = [];
  for await (const o of listAll(store())) objects.push({ key: o.key, size: o.size, lastModified: o.lastModified.toISOString() });
  return groupObjects(objects).sets.map((s) => ({ id: s.id, format: s.format, timestamp: s.time.toISOString(), missing: s.missing }));
}

async function backup(): Promise<string> {
  const { startBackupJob } = await import("../../agent/backup/run-backup");
  const job = await startBackupJob(app.deps, { retention: false, allowNewPassphrase: true }, "cli").done;
  expect(job.state, job.error ?? "").toBe("succeeded");
  return (job.result as BackupResult).setId;
}

function service(opts: { sets: DrillableSet[]; agentUrl?: string; initialNewest?: number; source?: string }) {
  const drills = new DrillStore(db, opts.source ?? `test-${randomBytes(4).toString("hex")}`);
  const svc = new DrillService({
    store: drills,
    sets: () => opts.sets,
    agent: () => new AgentClient({ baseUrl: opts.agentUrl ?? agentUrl, token: TOKEN }),
    log: silent,
    initialNewest: opts.initialNewest ?? 7,
    pollMs: 100,
    retryDelayMs: 200,
  });
  return { svc, drills };
}

/** Polls the agent's job list while `work` runs: the most drills that ever ran at once. */
async function maxConcurrentDrills(work: Promise<unknown>): Promise<number> {
  let max = 0;
  let done = false;
  void work.finally(() => (done = true));
  while (!done) {
    const running = app.deps.jobs.list().filter((j) => j.type === "drill" && j.state === "running").length;
    max = Math.max(max, running);
    await new Promise((r) => setTimeout(r, 20));
  }
  await work;
  return max;
}

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-drills-"));
  s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["backups"], accessKeyId: KEY, secretAccessKey: SECRET });
  const pass = path.join(work, "passphrase");
  writeFileSync(pass, "drill passphrase\n", { mode: 0o400 });
  server = makeTestServer(path.join(work, "srv"), { seed: 31, marker: "marker-D1" });
  const env = {
    ...agentEnvFor(server),
    AWS_S3_ENDPOINT: s3.endpoint,
    AWS_S3_BUCKET: "backups",
    AWS_S3_PATH: "k3s",
    AWS_ACCESS_KEY_ID: KEY,
    AWS_SECRET_ACCESS_KEY: SECRET,
    LIFEBOAT_PASSPHRASE_FILE: pass,
    LIFEBOAT_AGENT_TOKEN: TOKEN,
  };
  app = buildAgentApp(makeDeps(loadAgentConfig(env), { logDestination: pino.destination("/dev/null") }));
  agentUrl = (await app.listen(0, "127.0.0.1")).url;
  // Three real Lifeboat sets (one second apart: set ids are timestamps), each with a new marker.
  for (const m of ["marker-D2", "marker-D3", "marker-D4"]) {
    good.push(await backup());
    addMarker(server.dbPath, m);
    await new Promise((r) => setTimeout(r, 1100));
  }
  // A seed-named object that is not an OpenPGP message at all (a truncated or foreign upload).
  await store().put("state_2020-01-01_00-00-00.db.gpg", Readable.from([Buffer.from("this is not an encrypted backup\n".repeat(100))]));
  db = openDatabase(path.join(work, "dashboard"));
}, 180_000);

afterAll(async () => {
  await app?.close();
  db?.close();
  await s3?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("DrillService", () => {
  it("on first sight queues only the newest N sets, runs them one at a time, and records verified or failed with the reason", async () => {
    const sets = await catalogSets();
    expect(sets.map((s) => s.id).sort()).toEqual([BAD, ...good].sort());
    const { svc, drills } = service({ sets, initialNewest: 2 });
    expect(svc.scan()).toBe(2);
    // The newest two (the last two backups); the oldest backup and the 2020 set wait for "Verify now".
    expect(drills.all().map((d) => [d.setId, d.state])).toEqual([
      [good[2], "queued"],
      [good[1], "queued"],
    ]);
    expect(drills.verifications().get(good[2])).toEqual({ state: "not-verified", at: null, reason: QUEUED_REASON });
    expect(await maxConcurrentDrills(svc.pump())).toBe(1);
    for (const id of [good[1], good[2]]) {
      const d = drills.get(id)!;
      expect(d.state, d.reason ?? "").toBe("verified");
      expect(d.reason).toMatch(
        /^Restore drill passed: downloaded, decrypted and unpacked; integrity_check ok; revision [\d,]+, [\d,]+ rows; the backup's token opens its bootstrap data\.$/,
      );
      expect(d.detail?.stats?.currentRevision).toBeGreaterThan(0);
      expect(d.detail?.tokenSource).toBe("archive");
      expect(d.restoreId).toMatch(/^\d{4}-/);
      expect(d.finishedAt).not.toBeNull();
    }
    // Nothing new appeared: a second scan queues nothing.
    expect(svc.scan()).toBe(0);
    await svc.stop();
  });

  it("'Verify now' goes ahead of automatic drills; a set whose archive is not OpenPGP fails with the agent's sentence", async () => {
    const sets = await catalogSets();
    const { svc, drills } = service({ sets, initialNewest: 1 });
    expect(svc.scan()).toBe(1);
    svc.request(BAD); // starts the queue: the user's request runs first
    svc.request(good[0]);
    await svc.idle();
    await svc.pump();
    const bad = drills.get(BAD)!;
    expect(bad.state).toBe("failed");
    expect(bad.requestedBy).toBe("user");
    expect(bad.reason).toMatch(/^state_2020-01-01_00-00-00.db.gpg is damaged: .*OpenPGP.*Nothing on the server changed\.$/);
    expect(drills.verifications().get(BAD)).toMatchObject({ state: "failed", reason: bad.reason });
    const newest = drills.get(good[2])!;
    const older = drills.get(good[0])!;
    expect(newest.state).toBe("verified");
    expect(older.state).toBe("verified");
    // User requests ran before the automatic drill of the newest set.
    expect(Date.parse(bad.startedAt!)).toBeLessThan(Date.parse(newest.startedAt!));
    expect(Date.parse(older.startedAt!)).toBeLessThan(Date.parse(newest.startedAt!));
    await svc.stop();
  });

  it("a set whose name is dated ahead (a host clock that ran ahead) does not stop new sets from being queued", async () => {
    const at = (d: string): DrillableSet => ({
      id: `lifeboat-${d}`,
      format: "lifeboat",
      timestamp: new Date(`${d.slice(0, 10)}T${d.slice(11).replace(/-/g, ":")}Z`).toISOString(),
      missing: [],
    });
    const sets = ["2025-01-01_00-00-00", "2025-01-02_00-00-00", "2031-01-03_00-00-00"].map(at);
    const now = new Date("2025-01-02T12:00:00Z");
    const drills = new DrillStore(db, `test-ahead-${randomBytes(3).toString("hex")}`);
    const svc = new DrillService({
      store: drills,
      sets: () => sets,
      agent: () => new AgentClient({ baseUrl: agentUrl, token: TOKEN }),
      log: silent,
      now: () => now,
    });
    expect(svc.scan()).toBe(3);
    sets.push(at("2025-01-03_00-00-00"));
    now.setTime(Date.parse("2025-01-03T01:00:00Z"));
    expect(svc.scan()).toBe(1);
    expect(drills.get("lifeboat-2025-01-03_00-00-00")?.state).toBe("queued");
  });

  it("queues nothing while no agent is configured, and the newest sets once one is", async () => {
    const sets = await catalogSets();
    const drills = new DrillStore(db, `test-no-agent-${randomBytes(3).toString("hex")}`);
    let agent: AgentClient | null = null;
    const svc = new DrillService({ store: drills, sets: () => sets, agent: () => agent, log: silent, initialNewest: 1 });
    expect(svc.scan()).toBe(0);
    expect(drills.all()).toEqual([]);
    expect(svc.overview()).toMatchObject({ enabled: false, queued: 0 });
    agent = new AgentClient({ baseUrl: agentUrl, token: TOKEN });
    expect(svc.scan()).toBe(1);
    expect(drills.all().map((d) => d.state)).toEqual(["queued"]);
  });

  it("queues every set that appears after the first scan", async () => {
    const source = `test-new-${randomBytes(3).toString("hex")}`;
    const first = await catalogSets();
    const { svc, drills } = service({ sets: first, initialNewest: 1, source });
    expect(svc.scan()).toBe(1);
    await svc.pump();
    const added = await backup();
    const second = service({ sets: await catalogSets(), initialNewest: 1, source });
    expect(second.svc.scan()).toBe(1);
    expect(drills.get(added)?.state).toBe("queued");
    await second.svc.pump();
    expect(drills.get(added)?.state).toBe("verified");
    await svc.stop();
    await second.svc.stop();
  });

  it("an agent that is down or busy postpones drills without failing them", async () => {
    const sets = await catalogSets();
    const down = service({ sets, agentUrl: "http://127.0.0.1:9", initialNewest: 1 });
    down.svc.scan();
    await down.svc.pump();
    const d = down.drills.get(good.at(-1)!) ?? down.drills.all()[0];
    expect(d.state).toBe("queued");
    expect(down.svc.overview().note).toMatch(/^Restore drills wait: Cannot reach the agent at http:\/\/127\.0\.0\.1:9/);

    // Busy: a recovery holds the agent's datastore; the drill waits for it, then runs.
    const { svc, drills } = service({ sets, initialNewest: 1 });
    const client = new AgentClient({ baseUrl: agentUrl, token: TOKEN });
    const { jobId } = await client.startRecovery({ compareWith: "none" });
    svc.scan();
    await svc.pump();
    const waiting = drills.all()[0];
    expect(waiting.state).toBe("queued");
    expect(svc.overview().note).toMatch(/the agent is busy/);
    for (;;) {
      const job = await client.job(jobId);
      if (job.state !== "running") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 250)); // past the retry delay
    await svc.pump();
    expect(drills.get(waiting.setId)?.state).toBe("verified");
    await svc.stop();
    await down.svc.stop();
  });

  it("a drill started before a dashboard restart is followed to its end, not started twice", async () => {
    await catalogSets();
    const source = `test-restart-${randomBytes(3).toString("hex")}`;
    const drills = new DrillStore(db, source);
    const client = new AgentClient({ baseUrl: agentUrl, token: TOKEN });
    // What a dashboard that died mid-drill leaves behind: a running row with the agent's restore id.
    drills.enqueue(good[1], "auto");
    const { restoreId } = await client.startRestore({ source: { kind: "backup", setId: good[1] }, dryRun: true, compareWithLive: false });
    drills.markRunning(good[1], restoreId);
    const before = (await client.listRestores()).restores.length;
    const { svc } = service({ sets: [], source });
    await svc.pump();
    const d = drills.get(good[1])!;
    expect(d.state).toBe("verified");
    expect(d.restoreId).toBe(restoreId);
    expect((await client.listRestores()).restores.length).toBe(before);
    await svc.stop();
  });
});
