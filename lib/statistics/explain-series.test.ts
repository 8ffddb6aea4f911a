import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import pino from "pino";
import { startEmbeddedS3, type EmbeddedS3 } from "../storage/embedded-s3";
import { S3BackupStore } from "../storage";
import { openDatabase, type Db } from "../db/database";
import { AgentClient } from "../agent/agent-client";
import { CatalogService } from "../catalog/catalog-service";
import { DEFAULT_THRESHOLDS } from "../backups/anomalies";
import { seedObjectNames } from "../contracts/backup-names";
import type { BackupResult } from "../contracts/agent-backup";
import type { CatalogSet } from "../contracts/catalog";
import { Explanation } from "../contracts/set-statistics";
import { DrillService } from "../restore/drill-service";
import { DrillStore } from "../restore/drill-store";
import { loadAgentConfig } from "../../agent/config";
import { makeDeps } from "../../agent/deps";
import { buildAgentApp, type AgentApp } from "../../agent/server";
import { openKineDb } from "../../agent/kine/schema";
import { KineSimulator } from "../../agent/kine/simulator";
import { agentEnvFor, gpgEncrypt, makeTestServer, type TestServer } from "../../agent/testing/restore-fixtures";
import { StatisticsService } from "./service";
import { SetStatisticsStore } from "./store";

/**
 * Explanations from real databases: one kine database lives through seven nights (healthy, then
 * compaction stalls after the fifth) and is backed up each night in both formats — the seed
 * CronJob's (real tar | zstd | gpg -c and sqlite3 .backup, drilled by a real agent) and Lifeboat's
 * (the agent's backup pipeline, with manifests) — into a real s3rver. A second database grows
 * honestly (200 more pods, compaction working). Every number the explanation states is computed
 * here again with plain SQL from the night's own copy of the database.
 */

const TOKEN = "explain-agent-token-0123456789abcdef";
const KEY = "explain-key";
const SECRET = "explain-secret-7q";
const silent = pino({ level: "silent" });
const fmt = (n: number) => n.toLocaleString("en-US");
// Gap and staleness flags would come from the test's own timing (backups seconds apart), not from sizes.
const THRESHOLDS = { ...DEFAULT_THRESHOLDS, gapWarning: 1e9, staleCritical: 1e9 };
const STALLED_FROM = 5;

let s3: EmbeddedS3;
let work: string;
let db: Db;
let app: AgentApp;
let agentUrl: string;
let server: TestServer;
let honest: TestServer;
/** The nights' copies of the stalled series' database (the seed's logical backup, and what each Lifeboat backup read). */
const copies: string[] = [];
const lifeboatIds: string[] = [];
const seedIds: string[] = [];
const honestCopies: string[] = [];
const honestIds: string[] = [];

const storeFor = (prefix: string) =>
  new S3BackupStore({ endpoint: s3.endpoint, bucket: "backups", prefix, accessKeyId: KEY, secretAccessKey: SECRET, region: "us-east-1" });

function agentEnv(t: TestServer, prefix: string, pass: string) {
  return {
    ...agentEnvFor(t),
    AWS_S3_ENDPOINT: s3.endpoint,
    AWS_S3_BUCKET: "backups",
    AWS_S3_PATH: prefix,
    AWS_ACCESS_KEY_ID: KEY,
    AWS_SECRET_ACCESS_KEY: SECRET,
    LIFEBOAT_PASSPHRASE_FILE: pass,
    LIFEBOAT_AGENT_TOKEN: TOKEN,
  };
}

/** A Lifeboat backup by the agent's pipeline; set ids are second timestamps, so one per second at most. */
async function lifeboatBackup(deps: AgentApp["deps"], ids: string[]): Promise<void> {
  const { startBackupJob } = await import("../../agent/backup/run-backup");
  const job = await startBackupJob(deps, { retention: false, allowNewPassphrase: true }, "cli").done;
  expect(job.state, job.error ?? "").toBe("succeeded");
  ids.push((job.result as BackupResult).setId);
  await new Promise((r) => setTimeout(r, 1100));
}

/** Kine's writes for `ticks` × ~2 s, compacting every 150 ticks unless compaction is stalled. */
function live(dbPath: string, ticks: number, compact: boolean, extra?: (sim: KineSimulator) => void): void {
  const kine = openKineDb(dbPath);
  try {
    const sim = new KineSimulator(kine, { token: server.token, seed: 7 + ticks });
    for (let done = 0; done < ticks; done += 150) {
      kine.transaction(() => {
        for (let i = 0; i < Math.min(150, ticks - done); i++) sim.tick();
      })();
      if (compact) sim.compact();
    }
    if (extra) kine.transaction(() => extra(sim))();
    if (compact) sim.compact();
    kine.pragma("wal_checkpoint(TRUNCATE)");
  } finally {
    kine.close();
  }
}

/** The seed CronJob's two objects for `night`, with the real CLIs; returns the logical backup's file (the database a drill opens). */
async function seedBackup(night: number, pass: string): Promise<string> {
  const time = new Date(Date.UTC(2024, 11, 10 + night, 0, 0, 3));
  const dir = path.join(work, `seed-${night}`);
  mkdirSync(dir);
  const names = seedObjectNames(time);
  execFileSync("sh", ["-c", `tar -cf - -C ${JSON.stringify(path.dirname(server.dbPath))} . | zstd -q -o ${dir}/k3s_db.tar.zst`]);
  execFileSync("sqlite3", [server.dbPath, `.backup '${dir}/state.db'`]);
  gpgEncrypt(path.join(dir, "k3s_db.tar.zst"), path.join(dir, names.fileArchive), pass, path.join(work, "gnupg"));
  gpgEncrypt(path.join(dir, "state.db"), path.join(dir, names.logical), pass, path.join(work, "gnupg"));
  for (const name of [names.fileArchive, names.logical]) await storeFor("k3s").put(name, createReadStream(path.join(dir, name)));
  seedIds.push(`seed-${time.toISOString().slice(0, 19).replace("T", "_").replace(/:/g, "-")}`);
  return path.join(dir, "state.db");
}

/** Plain SQL on a night's copy: rows and value bytes under a key prefix. */
function prefixCount(file: string, prefix: string): { rows: number; bytes: number } {
  const d = new Database(file, { readonly: true });
  try {
    return d
      .prepare("SELECT COUNT(*) AS rows, IFNULL(SUM(IFNULL(length(value), 0) + IFNULL(length(old_value), 0)), 0) AS bytes FROM kine WHERE name LIKE ? || '/%'")
      .get(prefix) as { rows: number; bytes: number };
  } finally {
    d.close();
  }
}

/** Plain SQL: the compact revision, the current revision, the rows. */
function revisions(file: string): { compact: number; current: number; rows: number } {
  const d = new Database(file, { readonly: true });
  try {
    return {
      rows: d.prepare("SELECT COUNT(*) FROM kine").pluck().get() as number,
      compact: d.prepare("SELECT prev_revision FROM kine WHERE name = 'compact_rev_key'").pluck().get() as number,
      current: d.prepare("SELECT MAX(id) FROM kine").pluck().get() as number,
    };
  } finally {
    d.close();
  }
}

function liveObjects(file: string, prefix: string): number {
  const d = new Database(file, { readonly: true });
  try {
    return d
      .prepare("SELECT COUNT(*) FROM kine AS k WHERE k.name LIKE ? || '/%' AND k.deleted = 0 AND k.id = (SELECT MAX(id) FROM kine WHERE name = k.name)")
      .pluck()
      .get(prefix) as number;
  } finally {
    d.close();
  }
}

function services(prefix: string) {
  const catalog = new CatalogService({
    db,
    store: storeFor(prefix),
    location: { endpoint: s3.endpoint, bucket: "backups", prefix },
    thresholds: THRESHOLDS,
    refreshIntervalMs: 600_000,
    log: silent,
  });
  const drills = new DrillStore(db, catalog.source);
  const agent = new AgentClient({ baseUrl: agentUrl, token: TOKEN });
  const statistics = new StatisticsService({
    store: new SetStatisticsStore(db, catalog.source),
    catalog: { sets: () => catalog.view().sets, manifest: (s) => catalog.manifest(s) },
    drills: {
      state: (id) => {
        const d = drills.get(id);
        return d && { state: d.state, reason: d.reason, stats: d.detail?.stats ?? null, finishedAt: d.finishedAt };
      },
      passed: () => drills.inState("verified").flatMap((d) => (d.detail?.stats ? [{ setId: d.setId, stats: d.detail.stats, finishedAt: d.finishedAt }] : [])),
    },
    agent: () => agent,
    log: silent,
    liveWaitMs: 60_000,
  });
  return { catalog, drills, statistics, agent };
}

const setOf = (catalog: CatalogService, id: string): CatalogSet => catalog.findSet(id)!.set;

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-explain-"));
  s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["backups"], accessKeyId: KEY, secretAccessKey: SECRET });
  const pass = path.join(work, "passphrase");
  writeFileSync(pass, "explain passphrase\n", { mode: 0o400 });
  db = openDatabase(path.join(work, "dashboard"));
  server = makeTestServer(path.join(work, "srv"), { seed: 41, marker: "marker-E" });
  app = buildAgentApp(makeDeps(loadAgentConfig(agentEnv(server, "k3s", pass)), { logDestination: pino.destination("/dev/null") }));
  agentUrl = (await app.listen(0, "127.0.0.1")).url;

  // Seven nights of one cluster: healthy, then (from night 5) compaction stalls while kine writes on.
  for (let night = 0; night < 7; night++) {
    live(server.dbPath, night < STALLED_FROM ? 300 : 1500, night < STALLED_FROM);
    copies.push(await seedBackup(night, pass));
    await lifeboatBackup(app.deps, lifeboatIds);
  }

  // Another cluster grows honestly: 200 more pods in the last night, compaction working.
  honest = makeTestServer(path.join(work, "honest"), { seed: 42, marker: "marker-H" });
  const honestDeps = makeDeps(loadAgentConfig(agentEnv(honest, "honest", pass)), { logDestination: pino.destination("/dev/null") });
  for (let night = 0; night < 6; night++) {
    const kine = openKineDb(honest.dbPath);
    try {
      const sim = new KineSimulator(kine, { seed: 100 + night });
      kine.transaction(() => {
        for (let i = 0; i < 300; i++) sim.tick();
        if (night === 5) for (let p = 0; p < 200; p++) sim.put(`/registry/pods/web/web-${p}`, randomBytes(6000));
      })();
      sim.compact();
      kine.pragma("wal_checkpoint(TRUNCATE)");
    } finally {
      kine.close();
    }
    const copy = path.join(work, `honest-${night}.db`);
    copyFileSync(honest.dbPath, copy);
    honestCopies.push(copy);
    await lifeboatBackup(honestDeps, honestIds);
  }
}, 600_000);

afterAll(async () => {
  await app?.close();
  db?.close();
  await s3?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The assertions both formats share: the stalled compaction and the grown prefixes, with the numbers from SQL. */
function expectStalled(e: Explanation, flaggedCopy: string, baselineCopy: string): void {
  expect(Explanation.parse(e)).toEqual(e);
  const now = revisions(flaggedCopy);
  const before = revisions(baselineCopy);
  expect(now.compact).toBe(before.compact); // compaction did not move after the baseline night
  expect(e.causes[0].kind).toBe("compaction-stalled");
  expect(e.causes[0].text).toContain(`kine's compaction last advanced at revision ${fmt(now.compact)}, about `);
  expect(e.causes[0].text).toContain(`; ${fmt(now.current - now.compact)} revisions have been kept since`);
  expect(e.verdict).toMatch(new RegExp(`^Compaction stalled: kine's compaction has not advanced since revision ${fmt(now.compact)}`));
  const grown = e.causes.filter((c) => c.kind === "prefix-growth");
  expect(grown.map((c) => c.prefix)).toContain("/registry/leases");
  for (const c of grown) {
    const a = prefixCount(baselineCopy, c.prefix!);
    const b = prefixCount(flaggedCopy, c.prefix!);
    expect({ prefix: c.prefix, rowsDelta: c.rowsDelta, bytesDelta: c.bytesDelta }).toEqual({
      prefix: c.prefix,
      rowsDelta: b.rows - a.rows,
      bytesDelta: b.bytes - a.bytes,
    });
    expect(c.text).toContain(`${c.prefix} +${fmt(b.rows - a.rows)} rows`);
  }
}

describe("explanations of a stalled compaction", () => {
  it("a seed set not yet drilled says unknown and how to get its statistics", async () => {
    const { catalog, statistics } = services("k3s");
    await catalog.refresh();
    const newest = setOf(catalog, seedIds[6]);
    expect(newest.anomalies.map((a) => a.type)).toContain("growth");
    const { explanation, needsDrill } = await statistics.explain(newest);
    expect(explanation!.baselineSetId).toBe(seedIds[STALLED_FROM - 1]);
    expect(explanation!.causes).toEqual([{ kind: "unknown", text: expect.stringContaining("Run a drill (Verify now)") }]);
    expect(explanation!.verdict).toBe("Cannot tell why yet: this set has no database statistics yet; a restore drill reads them (Verify now).");
    expect(needsDrill).toBe(seedIds[6]);
    expect(statistics.columns([seedIds[6]])).toEqual({ rows: [null], liveKeys: [null], compactionLag: [null] });
  });

  it("in the seed's format, once a real agent drilled the sets: names the stall and the prefixes that grew", async () => {
    const { catalog, drills, statistics } = services("k3s");
    await catalog.refresh();
    const seedSets = catalog.view().sets.filter((s) => s.format === "seed");
    const svc = new DrillService({
      store: drills,
      sets: () => seedSets,
      agent: () => new AgentClient({ baseUrl: agentUrl, token: TOKEN }),
      log: silent,
      initialNewest: 7,
      pollMs: 100,
      retryDelayMs: 200,
    });
    expect(svc.scan()).toBe(7);
    // The queue waits out a busy or unreachable agent (its back-off) instead of failing a set: pump
    // again until nothing waits, as the service's own timer would.
    for (const deadline = Date.now() + 120_000; ;) {
      await svc.pump();
      const o = svc.overview();
      if ((o.running === null && o.queued === 0) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    await svc.stop();
    for (const id of seedIds) expect(drills.get(id)?.state, drills.get(id)?.reason ?? "").toBe("verified");
    // The drill service kept what each drill read, before anything asked for an explanation.
    const origins = new SetStatisticsStore(db, catalog.source).origins();
    expect(seedIds.map((id) => origins.get(id))).toEqual(seedIds.map(() => "drill"));
    // The drill's statistics are kept per set, and they are the database's.
    const kept = statistics.statistics(seedIds[6])!;
    expect(kept).toMatchObject({ from: "drill", takenAt: "2024-12-16T00:00:03.000Z", prefixesComplete: true });
    expect(kept.rowCount).toBe(revisions(copies[6]).rows);
    const flagged = setOf(catalog, seedIds[6]);
    const { explanation, needsDrill } = await statistics.explain(flagged);
    expect(needsDrill).toBeNull();
    expect(explanation!.baselineSetId).toBe(seedIds[STALLED_FROM - 1]);
    expectStalled(explanation!, copies[6], copies[STALLED_FROM - 1]);
    // Compaction last moved between the nights of 12-13 and 12-14 (the baseline night, the last one it ran).
    expect(explanation!.causes[0].text).toContain("about 2024-12-14 (after the set of 2024-12-13 00:00 UTC, before the set of 2024-12-14 00:00 UTC)");
    // They outlive the drill's record: Verify now clears it while the drill runs again.
    drills.enqueue(seedIds[6], "user");
    expect(drills.get(seedIds[6])?.detail).toBeNull();
    expect(statistics.statistics(seedIds[6])).toEqual(kept);
    const cols = statistics.columns(seedIds);
    expect(cols.compactionLag.every((v) => v !== null)).toBe(true);
    expect(cols.compactionLag[6]).toBe(revisions(copies[6]).current - revisions(copies[6]).compact);
    expect(cols.rows[6]).toBe(kept.rowCount);
  });

  it("in Lifeboat's format, from the manifests: the same story with the same numbers", async () => {
    const { catalog, statistics } = services("k3s");
    await catalog.refresh();
    const flagged = setOf(catalog, lifeboatIds[6]);
    expect(flagged.anomalies.map((a) => a.type)).toContain("growth");
    expect(setOf(catalog, lifeboatIds[STALLED_FROM - 1]).anomalies).toEqual([]);
    const { explanation } = await statistics.explain(flagged, { live: false });
    expect(explanation!.baselineSetId).toBe(lifeboatIds[STALLED_FROM - 1]);
    expectStalled(explanation!, copies[6], copies[STALLED_FROM - 1]);
    expect(statistics.statistics(lifeboatIds[6])).toMatchObject({ from: "manifest", prefixesComplete: true });
    // Both formats read the same database that night: the same statistics.
    const fromDrill = statistics.statistics(seedIds[6])!;
    const fromManifest = statistics.statistics(lifeboatIds[6])!;
    expect({ ...fromManifest, setId: "", from: "", takenAt: "", recordedAt: "", fileSize: 0, pageCount: 0, freelistCount: 0 }).toEqual({
      ...fromDrill,
      setId: "",
      from: "",
      takenAt: "",
      recordedAt: "",
      fileSize: 0,
      pageCount: 0,
      freelistCount: 0,
    });
  });

  it("tells what the live database shows now, from the agent", async () => {
    const { catalog, statistics } = services("k3s");
    await catalog.refresh();
    const { explanation } = await statistics.explain(setOf(catalog, lifeboatIds[6]));
    const now = revisions(server.dbPath);
    expect(explanation!.causes[0].text).toContain(
      `is at revision ${fmt(now.current)} with ${fmt(now.current - now.compact)} revisions kept since revision ${fmt(now.compact)}: compaction is still stalled.`,
    );
  });
});

describe("an honest growth", () => {
  it("more objects with compaction working is called normal growth, with the count of new objects", async () => {
    const { catalog, statistics } = services("honest");
    await catalog.refresh();
    const flagged = setOf(catalog, honestIds[5]);
    expect(flagged.anomalies.map((a) => a.type)).toContain("growth");
    const { explanation } = await statistics.explain(flagged, { live: false });
    expect(explanation!.baselineSetId).toBe(honestIds[4]);
    const pods = liveObjects(honestCopies[5], "/registry/pods") - liveObjects(honestCopies[4], "/registry/pods");
    expect(pods).toBeGreaterThanOrEqual(200);
    expect(explanation!.causes.map((c) => c.kind)).toEqual(["normal-growth"]);
    expect(explanation!.verdict).toMatch(new RegExp(`^This looks like normal growth: ${fmt(pods)} new pods`));
  });
});
