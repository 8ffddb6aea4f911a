/**
 * `npm run bench:continuous` — continuous protection (issue 16), measured in one run:
 *
 * 1. Two real `lifeboat-agent serve` processes on the same server directory, one shipping the log
 *    at the default interval (10 s) and one with it off, while the kine-like writer runs at its
 *    normal rate (250 ms ticks) for BENCH_SECONDS (default 90), then at 10× (25 ms) for half as
 *    long. Both agents take one backup first (the log's base; the other for a fair RSS). Measured:
 *    RPO = `lagSeconds` of GET /continuous sampled every second (p50/p99/max; goal p99 ≤ 15 s), the
 *    extra CPU (% of one core) and extra RSS of the shipping agent over the other (goals ≤ 2 %,
 *    ≤ 10 MB), the writer's longest blocked write with and without shipping (≤ 100 ms), the log's
 *    bytes and PUTs per day at that rate against one nightly backup's size.
 * 2. A day of the log, simulated: the kine simulator writes 24 h of normal-rate revisions
 *    (BENCH_LOG_HOURS) into a database with a base set, the shipper ships every 10 simulated
 *    seconds into a directory store, kine compacts every 5 simulated minutes, and the open window is
 *    checkpointed every LIFEBOAT_LOG_CHECKPOINT_MINUTES (default 5; each run timed); then the restore to a
 *    point at the end, and to one inside the last window, are timed against a plain restore of the base
 *    (goal ≤ 2×), each also from the segments alone (as before checkpoints), and the log's bytes
 *    against one nightly set at that rate (a backup taken at the day's end: it holds kine's
 *    uncompacted tail, as a real nightly set does). Also: how much leaving old_value out of segments saves.
 *    The simulated day starts at a UTC midnight.
 * 3. The same day after log compaction (LIFEBOAT_LOG_COMPACT_HOURS, default 6; LIFEBOAT_LOG_FOLD_HOURS,
 *    default 24), run at the end of the day (its last window still open) and again once that window has
 *    closed (the day has ended, so its windows fold into one): bytes per day of what the store then
 *    holds, and the restore to the same point again against the plain restore: the stager and the
 *    log alone, then as whole drills (stage + verify, as `restore --dry-run` runs them); each the
 *    plain and the point alternating, median of BENCH_DRILLS (default 3), after BENCH_WARMUP (default 1)
 *    untimed restores of each (a process's first point restore starts its workers); and as commands of their own,
 *    the bundled `lifeboat-agent restore … --dry-run` in a fresh process each (Node's start, cold
 *    workers and the comparison with the live database included), as an operator runs them. Every
 *    restore timed in this process starts without derived keys in memory, as in a process of its own
 *    (the shipper's and the last restore's would otherwise save it the S2K hashes). Last, the same
 *    two stagings from a store that is not on this machine: the day's objects copied into s3rver,
 *    reached through a proxy that adds BENCH_RTT_MS (default 25 ms; 0 leaves this out) to each
 *    request's round trip (bench/latency-proxy.ts), median of BENCH_DRILLS. At the end of the day, also
 *    the drill to the last point read before kine's last compaction (its whole uncompacted tail live:
 *    the end of the day, read right after a compaction, is the smallest tail a point can have).
 * BENCH_BASE_MB (default 0) adds that many megabytes of objects that never change before the base (an
 * incident-sized cluster at the same write rate).
 * Scratch files go to bench/out/continuous (git-ignored).
 */
import { execFileSync, fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startProcess, waitForListening, type RunningProcess } from "../lib/process";
import { startEmbeddedS3 } from "../lib/storage/embedded-s3";
import { ContinuousStatus } from "../lib/contracts/continuous";
import { spawnKineWriter } from "../agent/testing/kine-writer-process";
import { makeTestServer, agentEnvFor } from "../agent/testing/restore-fixtures";
import { loadAgentConfig } from "../agent/config";
import { makeDeps } from "../agent/deps";
import { openKineDb } from "../agent/kine/schema";
import { KineSimulator } from "../agent/kine/simulator";
import { LogShipper } from "../agent/continuous/shipper";
import { planPoint } from "../agent/continuous/point-in-time";
import { checkpointLog, compactLog } from "../agent/continuous/compaction";
import { effectiveSegments, listLog } from "../agent/continuous/log-listing";
import { stagePoint } from "../agent/continuous/stage-point";
import { resolveSource } from "../agent/restore/sources";
import { stageBackup } from "../agent/restore/stage";
import { formatSegment, type KineRow } from "../agent/continuous/segment-format";
import { encodeSegment } from "../agent/continuous/segment-codec";
import { readPassphrase } from "../agent/config";
import { forgetDerivedKeys } from "../agent/archive/openpgp-native";
import { startBackupJob } from "../agent/backup/run-backup";
import { startRestore } from "../agent/restore/runner";
import { shippingServeEnv } from "../agent/testing/continuous-fixtures";
import { listStoreSets } from "../agent/backup/sets";
import { setSize } from "../lib/backups/grouping";

const ROOT = path.resolve(import.meta.dirname, "..");
const OUT = path.join(ROOT, "bench", "out", "continuous");
const BIN = path.join(ROOT, "agent/bin/lifeboat-agent.js");
const SECONDS = Number(process.env.BENCH_SECONDS ?? 90);
const HOURS = Number(process.env.BENCH_LOG_HOURS ?? 24);
const DRILLS = Number(process.env.BENCH_DRILLS ?? 3);
/** Untimed restores of each kind before the timed ones of step 3 (BENCH_WARMUP, default 1). */
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1);
/** The round trip of the remote store in step 3's last measure (BENCH_RTT_MS; 0 leaves it out). */
const RTT_MS = Number(process.env.BENCH_RTT_MS ?? 25);
/**
 * Step 2 and 3's cluster: megabytes of objects written once before the base (BENCH_BASE_MB, default 0),
 * shaped like Helm release secrets (gzip inside base64: they do not compress). The simulator's own
 * database is ~1.5 MB; the incident's healthy backups were 53.89 MB compressed. The write rate is the
 * same either way: these objects never change.
 */
const BASE_MB = Number(process.env.BENCH_BASE_MB ?? 0);
const TOKEN = "bench-continuous-agent-token-0123456789";
const mb = (n: number) => `${(n / 1e6).toFixed(2)} MB`;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
const verdict = (ok: boolean) => (ok ? "ok" : "OVER GOAL");

/** utime + stime of a process in seconds, and its RSS in bytes (from /proc). */
function usage(pid: number): { cpu: number; rss: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024;
  return { cpu: (Number(f[11]) + Number(f[12])) / 100, rss };
}

async function call(url: string, method: string, p: string): Promise<unknown> {
  const res = await fetch(url + p, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: method === "POST" ? "{}" : undefined,
  });
  return res.json();
}

async function live(): Promise<void> {
  const work = path.join(OUT, "live");
  mkdirSync(work, { recursive: true });
  const s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["backups"] });
  const server = makeTestServer(path.join(work, "k3s"), { seed: 90, marker: "bench" });
  writeFileSync(path.join(work, "passphrase"), "bench continuous passphrase\n");
  const agents: RunningProcess[] = [];
  try {
    // Baseline: the writer alone.
    let writer = await spawnKineWriter({ db: server.dbPath, intervalMs: 250, seed: 90 });
    await sleep(Math.min(30, SECONDS / 3) * 1000);
    const alone = await writer.stop();
    writer = await spawnKineWriter({ db: server.dbPath, intervalMs: 250, seed: 91 });
    const start = async (name: string, interval: string) => {
      const p = startProcess(process.execPath, [BIN, "serve"], {
        env: {
          ...process.env,
          ...agentEnvFor(server, {
            LIFEBOAT_STATE_DIR: path.join(work, `state-${name}`),
            LIFEBOAT_PASSPHRASE_FILE: path.join(work, "passphrase"),
            ...shippingServeEnv(s3.endpoint, name, TOKEN, interval),
            LOG_LEVEL: "warn",
          }),
        } as NodeJS.ProcessEnv,
        group: false,
      });
      agents.push(p);
      return { url: await waitForListening(p, { timeoutMs: 60_000, what: name }), pid: p.child.pid! };
    };
    const on = await start("on", "10");
    const off = await start("off", "0");
    await call(on.url, "POST", "/backups");
    await call(off.url, "POST", "/backups");
    const status = async () => ContinuousStatus.parse(await call(on.url, "GET", "/continuous"));
    for (let i = 0; i < 120 && (await status()).segments === 0; i++) await sleep(1000);
    const first = await status();
    const u0 = { on: usage(on.pid), off: usage(off.pid), t: Date.now() };
    const lag: number[] = [];
    for (let i = 0; i < SECONDS; i++) {
      await sleep(1000);
      lag.push((await status()).lagSeconds ?? NaN);
    }
    const u1 = { on: usage(on.pid), off: usage(off.pid), t: Date.now() };
    const normal = await writer.stop();
    const mid = await status();
    writer = await spawnKineWriter({ db: server.dbPath, intervalMs: 25, seed: 92 });
    const lag10: number[] = [];
    for (let i = 0; i < SECONDS / 2; i++) {
      await sleep(1000);
      lag10.push((await status()).lagSeconds ?? NaN);
    }
    await writer.stop();
    const window = (u1.t - u0.t) / 1000;
    const extraCpu = (100 * (u1.on.cpu - u0.on.cpu - (u1.off.cpu - u0.off.cpu))) / window;
    const extraRss = u1.on.rss - u1.off.rss;
    const segs = mid.segments - first.segments;
    const bytes = mid.bytes - first.bytes;
    const perDay = (n: number) => (n / window) * 86400;
    const { sets } = await listStoreSets(makeDeps(loadAgentConfig({ ...s3Env(s3.endpoint, "on"), LIFEBOAT_K3S_SERVER_DIR: server.serverDir })).store());
    const nightly = sets.length ? setSize(sets[0]) : NaN;
    console.log(`1. live, ${SECONDS} s at the normal rate (${normal.writes} writes) and ${SECONDS / 2} s at 10×`);
    console.log(
      `   RPO normal: p50 ${pct(lag, 50).toFixed(1)} s, p99 ${pct(lag, 99).toFixed(1)} s, max ${Math.max(...lag).toFixed(1)} s  (goal p99 ≤ 15 s: ${verdict(pct(lag, 99) <= 15)})`,
    );
    console.log(
      `   RPO 10×:    p50 ${pct(lag10, 50).toFixed(1)} s, p99 ${pct(lag10, 99).toFixed(1)} s, max ${Math.max(...lag10).toFixed(1)} s  (goal p99 ≤ 15 s: ${verdict(pct(lag10, 99) <= 15)})`,
    );
    console.log(
      `   agent CPU, shipping minus not: ${extraCpu.toFixed(2)} % of one core  (goal ≤ 2 %: ${verdict(extraCpu <= 2)}); shipping agent alone ${((100 * (u1.on.cpu - u0.on.cpu)) / window).toFixed(2)} %`,
    );
    console.log(`   agent RSS, shipping minus not: ${mb(extraRss)} (${mb(u1.on.rss)} vs ${mb(u1.off.rss)})  (goal ≤ 10 MB: ${verdict(extraRss <= 10e6)})`);
    console.log(
      `   writer's longest blocked write: ${alone.maxBlockedMs.toFixed(0)} ms alone, ${normal.maxBlockedMs.toFixed(0)} ms while shipping  (goal ≤ 100 ms: ${verdict(normal.maxBlockedMs <= 100)})`,
    );
    console.log(
      `   log: ${segs} segments, ${mb(bytes)} in ${window.toFixed(0)} s → ${mb(perDay(bytes))}/day, ${perDay(segs).toFixed(0)} PUTs/day; one nightly set ${mb(nightly)} → ratio ${(perDay(bytes) / nightly).toFixed(2)}  (goal ≤ 1: ${verdict(perDay(bytes) <= nightly)})`,
    );
  } finally {
    for (const a of agents) await a.stop();
    await s3.stop();
  }
}

function s3Env(endpoint: string, prefix: string): Record<string, string> {
  return {
    AWS_S3_ENDPOINT: endpoint,
    AWS_S3_BUCKET: "backups",
    AWS_S3_PATH: prefix,
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
    LOG_LEVEL: "silent",
  };
}

async function day(): Promise<void> {
  const work = path.join(OUT, "day");
  mkdirSync(work, { recursive: true });
  const server = makeTestServer(path.join(work, "k3s"), { seed: 24, marker: "bench-day" });
  if (BASE_MB > 0) addStaticObjects(server.dbPath, server.token, BASE_MB);
  writeFileSync(path.join(work, "passphrase"), "bench continuous passphrase\n");
  const agentEnv: Record<string, string> = {
    LIFEBOAT_K3S_SERVER_DIR: server.serverDir,
    LIFEBOAT_STATE_DIR: path.join(work, "state"),
    LIFEBOAT_PASSPHRASE_FILE: path.join(work, "passphrase"),
    LIFEBOAT_BACKUP_DIR: path.join(work, "store"),
    ...(process.env.LIFEBOAT_LOG_COMPACT_HOURS ? { LIFEBOAT_LOG_COMPACT_HOURS: process.env.LIFEBOAT_LOG_COMPACT_HOURS } : {}),
    ...(process.env.LIFEBOAT_LOG_FOLD_HOURS ? { LIFEBOAT_LOG_FOLD_HOURS: process.env.LIFEBOAT_LOG_FOLD_HOURS } : {}),
    LOG_LEVEL: "silent",
  };
  const deps = makeDeps(loadAgentConfig(agentEnv));
  // The bundled agent, for the restores timed as commands of their own (step 3).
  execFileSync(process.execPath, [path.join(ROOT, "agent", "bin", "build-agent.mjs")], { stdio: "ignore" });
  mkdirSync(path.join(work, "store"), { recursive: true });
  const job = await startBackupJob(deps, { retention: false, allowNewPassphrase: true }, "cli").done;
  if (job.state !== "succeeded") throw new Error(`base backup failed: ${job.error}`);
  const result = job.result as { setId: string; manifest: { database: { currentRevision: number } } };
  // The simulated day starts at the next UTC midnight, so it is one whole day of windows and folds.
  const dayStart = Math.ceil(Date.now() / 86_400_000) * 86_400_000;
  let clock = dayStart;
  const shipper = new LogShipper(deps, {
    intervalMs: 10_000,
    now: () => new Date(clock),
    takeBase: async () => ({ setId: result.setId, revision: result.manifest.database.currentRevision }),
    baseAtFirstStart: true,
  });
  const db = openKineDb(server.dbPath);
  const sim = new KineSimulator(db, { token: server.token, seed: 24 });
  const t0 = Date.now();
  const rounds = (HOURS * 3600) / 10;
  let rowsWritten = 0;
  const tick = db.transaction(() => {
    for (let i = 0; i < 40; i++) rowsWritten += sim.tick(); // 10 s of 250 ms ticks
  });
  await shipper.tick(); // the generation
  // The last point read before kine's last compaction of the day: every row since its compaction
  // before is still live there (the end of the day, read right after that compaction, is kine's
  // smallest tail), so a restore to it applies the most rows a point of the open window can need.
  let beforeCompaction = 0;
  // Checkpoints of the open window as `serve` writes them (every LIFEBOAT_LOG_CHECKPOINT_MINUTES, in
  // rounds of 10 s, half a period out of step with kine's compactions), each run timed.
  const cpEvery = deps.config.logCompactHours > 0 && deps.config.logCheckpointMinutes > 0 ? Math.max(1, Math.round(deps.config.logCheckpointMinutes * 6)) : 0;
  const cpRuns: number[] = [];
  const cpSizes: number[] = [];
  // A point inside the day's last window, 60 % of a window (or of the day) before its end.
  const midRound = rounds - 1 - Math.floor(0.6 * Math.min(rounds, deps.config.logCompactHours * 360 || rounds));
  let midPoint = 0;
  for (let r = 0; r < rounds; r++) {
    tick();
    if (r % 30 === 29) sim.compact();
    clock += 10_000;
    await shipper.tick();
    if (r === rounds - 2) beforeCompaction = shipper.position().uploadedRevision;
    if (r === midRound) midPoint = shipper.position().uploadedRevision;
    if (cpEvery && r % cpEvery === Math.floor(cpEvery / 2)) {
      const t = performance.now();
      const cp = await checkpointLog(deps.store(), {
        passphrase: readPassphrase(deps.config),
        windowHours: deps.config.logCompactHours,
        now: new Date(clock),
        scratchDir: path.join(work, "checkpoints"),
      });
      cpRuns.push(performance.now() - t);
      if (cp.written) cpSizes.push(cp.written.bytesAfter);
    }
    if (r % 1000 === 999) console.log(`   … ${((r + 1) / 360).toFixed(1)} simulated hours`);
  }
  db.close();
  const pos = shipper.position();
  await shipper.stop();
  const simMs = Date.now() - t0;
  // "One nightly backup's size at the same write rate": a set taken now, with kine's uncompacted tail
  // in it, as every nightly set of a cluster writing at this rate has (the base was taken right after seeding).
  const nightlyJob = await startBackupJob(deps, { retention: false, allowNewPassphrase: false }, "cli").done;
  if (nightlyJob.state !== "succeeded") throw new Error(`nightly backup failed: ${nightlyJob.error}`);
  const nightlyId = (nightlyJob.result as { setId: string }).setId;
  const { sets } = await listStoreSets(deps.store());
  const base = sets.find((s) => s.id === result.setId)!;
  const nightlyBytes = setSize(sets.find((s) => s.id === nightlyId)!);
  // Plain restore of the base, then the point at the end of the day: both through the same stager.
  const plainMs = await plainRestore(deps, result.setId, work);
  let t = Date.now();
  const pointDir = path.join(work, "point");
  rmSync(pointDir, { recursive: true, force: true });
  mkdirSync(pointDir);
  forgetDerivedKeys();
  t = Date.now();
  const plan = await planPoint(deps, result.setId, { toRevision: pos.uploadedRevision });
  const { applied } = await stagePoint(deps, plan, { stagingDir: pointDir, maxBytes: 1 << 30, durable: false });
  const pointMs = Date.now() - t;
  // The same point from the segments alone (the plan without its checkpoints), and a point inside the last window both ways.
  const raw = await rawRestore(deps, plan, path.join(work, "point-raw"));
  const mid = await pointRestore(deps, result.setId, midPoint, path.join(work, "point-mid"));
  const midRaw = await rawRestore(deps, await planPoint(deps, result.setId, { toRevision: midPoint }), path.join(work, "point-mid-raw"));
  const checkpointsLeft = (await listLog(deps.store())).reduce((n, g) => n + g.checkpoints.length, 0);
  // old_value: the last segment's rows again, once with old_value rebuilt (as shipped) and once carrying it.
  const probe = openKineDb(server.dbPath, { readonly: true });
  const rows = (
    probe
      .prepare(
        "SELECT k.*, (k.old_value IS p.value) AS rebuildable FROM kine AS k LEFT JOIN kine AS p ON p.id = k.prev_revision WHERE k.id > ? ORDER BY k.id DESC LIMIT 2000",
      )
      .all(result.manifest.database.currentRevision) as (KineRow & { rebuildable: number })[]
  ).reverse();
  probe.close();
  const header = { generation: "x", first: rows[0].id, last: rows[rows.length - 1].id, compactRevision: 0, readAt: new Date().toISOString() };
  const pass = readPassphrase(deps.config);
  const without = (
    await encodeSegment(
      formatSegment(
        header,
        rows.map((r) => ({ ...r, oldValueRebuildable: r.rebuildable === 1 })),
      ),
      pass,
    )
  ).length;
  const withOld = (
    await encodeSegment(
      formatSegment(
        header,
        rows.map((r) => ({ ...r, oldValueRebuildable: false })),
      ),
      pass,
    )
  ).length;
  const dayBytes = (pos.bytes / HOURS) * 24;
  console.log(
    `2. a simulated day: ${HOURS} h of normal-rate writes (${rowsWritten} revisions), ${pos.segments} segments (simulated in ${(simMs / 1000).toFixed(0)} s)`,
  );
  console.log(
    `   log bytes per day ${mb(dayBytes)} vs a nightly set at this rate ${mb(nightlyBytes)} → ratio ${(dayBytes / nightlyBytes).toFixed(2)}  (goal ≤ 1: ${verdict(dayBytes <= nightlyBytes)}); the base, taken right after seeding: ${mb(setSize(base))}; PUTs/day ${((pos.segments / HOURS) * 24).toFixed(0)}`,
  );
  console.log(
    `   restore to the end (${applied.segmentsApplied} objects, revision ${applied.revision}): ${(pointMs / 1000).toFixed(2)} s vs plain restore of the base ${(plainMs / 1000).toFixed(2)} s → ${(pointMs / plainMs).toFixed(2)}×  (goal ≤ 2×: ${verdict(pointMs <= 2 * plainMs)}); from the segments alone (${raw.applied.segmentsApplied}): ${(raw.ms / 1000).toFixed(2)} s → ${(raw.ms / plainMs).toFixed(2)}×`,
  );
  if (cpEvery)
    console.log(
      `   checkpoints (LIFEBOAT_LOG_CHECKPOINT_MINUTES=${deps.config.logCheckpointMinutes}): ${cpSizes.length} written in ${cpRuns.length} runs, a run ${(pct(cpRuns, 50) / 1000).toFixed(2)} s median / ${(pct(cpRuns, 90) / 1000).toFixed(2)} s p90 (${((pct(cpRuns, 50) / (deps.config.logCheckpointMinutes * 60_000)) * 100).toFixed(2)} % of one core at that interval), ${mb(pct(cpSizes, 50))} median each; ${checkpointsLeft} in the store at the end (the last two hours' and one a quarter hour before)`,
    );
  console.log(
    `   a point inside the last window (revision ${midPoint}, ${((rounds - 1 - midRound) / 360).toFixed(1)} h before the end): ${mid.applied.segmentsApplied} objects ${(mid.ms / 1000).toFixed(2)} s → ${(mid.ms / plainMs).toFixed(2)}×  (goal ≤ 2×: ${verdict(mid.ms <= 2 * plainMs)}); from the segments alone (${midRaw.applied.segmentsApplied}): ${(midRaw.ms / 1000).toFixed(2)} s → ${(midRaw.ms / plainMs).toFixed(2)}×`,
  );
  console.log(`   old_value left out of segments: ${without} B vs ${withOld} B carrying it for the same 2000 rows → ${(without / withOld).toFixed(2)}×`);
  // Right at the end of the day (its last window still open), then once that window has closed too.
  const at = { setId: result.setId, target: pos.uploadedRevision, nightlyBytes, work, dayEnd: new Date(dayStart + HOURS * 3_600_000), agentEnv };
  await afterCompaction(deps, { ...at, now: new Date(clock), label: "at the end of the day", beforeCompaction });
  await afterCompaction(deps, { ...at, now: new Date(clock + deps.config.logCompactHours * 3_600_000), label: "once its last window closed" });
}

/**
 * Writes `mb` megabytes of objects that never change into the database at `dbPath`, before its base is
 * taken: Helm release secrets of 64–256 KiB (a release's gzipped manifest, base64: random bytes here).
 */
function addStaticObjects(dbPath: string, token: string, mb: number): void {
  const db = openKineDb(dbPath);
  try {
    const sim = new KineSimulator(db, { token, seed: 7 });
    let bytes = 0;
    let n = 0;
    db.transaction(() => {
      while (bytes < mb * 1e6) {
        const size = 65_536 + ((n * 7919) % 196_608);
        const name = `/registry/secrets/apps/sh.helm.release.v1.app-${Math.floor(n / 10)}.v${(n % 10) + 1}`;
        sim.put(
          name,
          Buffer.concat([Buffer.from(`k8s\u0000\n\u0002v1\u0012\u0006Secret\u001a{"type":"helm.sh/release.v1","name":"${name}"}`), randomBytes(size)]),
        );
        bytes += size;
        n++;
      }
    })();
    db.pragma("wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
}

/** A plain restore of set `setId` (the stager alone, as a restore of the base runs it); its milliseconds. */
async function plainRestore(deps: ReturnType<typeof makeDeps>, setId: string, work: string): Promise<number> {
  const plainDir = path.join(work, "plain");
  rmSync(plainDir, { recursive: true, force: true });
  mkdirSync(plainDir);
  // Each restore timed derives its keys as a restore in a process of its own would (no cache from the shipper or the last restore).
  forgetDerivedKeys();
  const t = Date.now();
  await stageBackup(await resolveSource(deps, { kind: "backup", setId }), {
    stagingDir: plainDir,
    passphrase: () => readPassphrase(deps.config),
    maxBytes: 1 << 30,
    durable: false,
  });
  return Date.now() - t;
}

/** A restore of set `setId` to revision `target` (the stager alone, without derived keys, as plainRestore); its milliseconds. */
async function pointRestore(deps: ReturnType<typeof makeDeps>, setId: string, target: number, dir: string) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  forgetDerivedKeys();
  const t = Date.now();
  const plan = await planPoint(deps, setId, { toRevision: target });
  const { applied } = await stagePoint(deps, plan, { stagingDir: dir, maxBytes: 1 << 30, durable: false });
  return { ms: Date.now() - t, applied };
}

/** A restore of `plan`'s point from its segments alone (its checkpoints left out), as before checkpoints: its milliseconds. */
async function rawRestore(deps: ReturnType<typeof makeDeps>, plan: Awaited<ReturnType<typeof planPoint>>, dir: string) {
  const gen = (await listLog(deps.store())).find((g) => g.generation === plan.generation)!;
  const segments = effectiveSegments(gen.segments).filter((s) => s.last > plan.baseRevision && s.first <= plan.target);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  forgetDerivedKeys();
  const t = Date.now();
  const { applied } = await stagePoint(deps, { ...plan, segments }, { stagingDir: dir, maxBytes: 1 << 30, durable: false });
  return { ms: Date.now() - t, applied };
}

/**
 * The plain restore and the point, the stagers alone, alternating, from s3rver behind a proxy adding
 * RTT_MS to each request (a remote store): what the restore's round trips cost (listings, the base,
 * the log's objects fetched ahead), which the directory store of the day does not show.
 */
async function remoteStagings(opts: { setId: string; target: number; work: string; agentEnv: Record<string, string> }): Promise<void> {
  const dir = path.join(opts.work, "remote-s3");
  rmSync(dir, { recursive: true, force: true });
  const s3 = await startEmbeddedS3({ directory: dir, buckets: ["backups"] });
  const proxy = fork(path.join(ROOT, "bench", "latency-proxy.ts"), [s3.endpoint, String(RTT_MS)], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "pipe", "inherit", "ipc"],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      proxy.stdout!.once("data", (d) => resolve(JSON.parse(String(d)).port));
      proxy.once("exit", (code) => reject(new Error(`the latency proxy exited (${code})`)));
    });
    const { LIFEBOAT_BACKUP_DIR: storeDir, ...env } = opts.agentEnv;
    const remote = makeDeps(
      loadAgentConfig({
        ...env,
        LIFEBOAT_STATE_DIR: path.join(opts.work, "remote-state"),
        AWS_S3_ENDPOINT: `http://127.0.0.1:${port}`,
        AWS_S3_BUCKET: "backups",
        AWS_S3_PATH: "remote",
        AWS_ACCESS_KEY_ID: "S3RVER",
        AWS_SECRET_ACCESS_KEY: "S3RVER",
      }),
    );
    for (const name of readdirSync(storeDir)) await remote.store().put(name, createReadStream(path.join(storeDir, name)));
    const times = { plain: [] as number[], point: [] as number[] };
    for (let i = 0; i < DRILLS; i++) {
      times.plain.push(await plainRestore(remote, opts.setId, opts.work));
      times.point.push((await pointRestore(remote, opts.setId, opts.target, path.join(opts.work, "point-remote"))).ms);
    }
    const [plainMs, pointMs] = [pct(times.plain, 50), pct(times.point, 50)];
    console.log(
      `   from a store ${RTT_MS} ms away (s3rver behind bench/latency-proxy.ts; BENCH_RTT_MS), the stagers alone, median of ${DRILLS}: to the end ${(pointMs / 1000).toFixed(2)} s vs the base ${(plainMs / 1000).toFixed(2)} s → ${(pointMs / plainMs).toFixed(2)}×`,
    );
  } finally {
    proxy.kill();
    await s3.stop();
  }
}

/**
 * 3. The same day after log compaction (agent/continuous/compaction.ts) with the default
 * LIFEBOAT_LOG_COMPACT_HOURS, as `serve` runs it after the nightly backup: every closed window folded.
 * The restore to the same point is timed again, right after a plain restore of the base (the load of
 * this shared machine moves both alike). Bytes: the objects read within the simulated day, and apart
 * from them what the store holds after it (the next day's first window, where what the day read after
 * kine's last compaction of it waits).
 */
async function afterCompaction(
  deps: ReturnType<typeof makeDeps>,
  opts: {
    setId: string;
    target: number;
    now: Date;
    nightlyBytes: number;
    work: string;
    label: string;
    dayEnd: Date;
    agentEnv: Record<string, string>;
    /** A second point, drilled too: the last read before kine's last compaction (still reachable only while its window is open). */
    beforeCompaction?: number;
  },
): Promise<void> {
  const t0 = Date.now();
  const done = await compactLog(deps.store(), {
    passphrase: readPassphrase(deps.config),
    windowHours: deps.config.logCompactHours,
    foldHours: deps.config.logFoldHours,
    now: opts.now,
    scratchDir: path.join(opts.work, "compaction"),
  });
  const compactMs = Date.now() - t0;
  const segs = (await listLog(deps.store())).flatMap((g) => g.segments);
  const sum = (xs: typeof segs) => xs.reduce((n, s) => n + s.size, 0);
  const inDay = segs.filter((s) => s.readAt < opts.dayEnd);
  const after = segs.filter((s) => s.readAt >= opts.dayEnd);
  // Folds leave one object per ended UTC day: scaling a shorter run up to a day would count its tail more than once.
  const dayBytes = HOURS >= 24 ? (sum(inDay) / HOURS) * 24 : sum(inDay);
  // The stager alone, the plain restore and the point alternating, median of DRILLS each (single
  // runs of a 0.1 s restore move by half their time on this shared machine).
  const staging = { plain: [] as number[], point: [] as number[] };
  let applied!: Awaited<ReturnType<typeof stagePoint>>["applied"];
  // BENCH_WARMUP untimed restores of each kind first (i < 0): the first point restore of a process
  // starts its two SQLite workers, and under tsx each compiles its modules again (~0.1–0.3 s), which a
  // median of 3 kept (4.3× one evening, 2.5× with 7 drills the night before). A long-lived `serve`
  // pays that once; a fresh process each time is measured below, as commands of their own.
  for (let i = -WARMUP; i < DRILLS; i++) {
    const plain = await plainRestore(deps, opts.setId, opts.work);
    const point = await pointRestore(deps, opts.setId, opts.target, path.join(opts.work, "point-compacted"));
    applied = point.applied;
    if (i < 0) continue;
    staging.plain.push(plain);
    staging.point.push(point.ms);
  }
  const plainMs = pct(staging.plain, 50);
  const pointMs = pct(staging.point, 50);
  console.log(
    `3. compaction ${opts.label} (LIFEBOAT_LOG_COMPACT_HOURS=${deps.config.logCompactHours}, LIFEBOAT_LOG_FOLD_HOURS=${deps.config.logFoldHours}): ${done.length} windows folded (${done.filter((r) => r.windowHours !== deps.config.logCompactHours).length} of them folds of folded windows) in ${(compactMs / 1000).toFixed(0)} s, ${segs.length} objects left; the largest scratch database ${mb(Math.max(0, ...done.map((r) => r.scratchBytes)))} (${done.reduce((n, r) => n + r.rowsForgotten, 0)} of ${done.reduce((n, r) => n + r.rowsIn, 0)} rows dropped as kine had)`,
  );
  console.log(
    `   log bytes ${HOURS >= 24 ? "per day" : `for these ${HOURS} h (not scaled up: a day keeps one tail)`}: ${mb(dayBytes)} in ${inDay.length} objects read within the day vs a nightly set at this rate ${mb(opts.nightlyBytes)} → ratio ${(dayBytes / opts.nightlyBytes).toFixed(2)}  (goal ≤ 1: ${verdict(dayBytes <= opts.nightlyBytes)}); after the day: ${after.length} objects, ${mb(sum(after))}`,
  );
  console.log(
    `   restore to the end (${applied.segmentsApplied} objects, revision ${applied.revision}), the stager alone, median of ${DRILLS}: ${(pointMs / 1000).toFixed(2)} s vs plain restore of the base ${(plainMs / 1000).toFixed(2)} s → ${(pointMs / plainMs).toFixed(2)}×  (goal ≤ 2×: ${verdict(pointMs <= 2 * plainMs)})`,
  );
  // The same two as whole drills, as `lifeboat-agent restore … --dry-run` runs them (stage, then
  // verify: integrity_check, kine's shape, the token), alternating, median of DRILLS each.
  const drills = { plain: [] as number[], point: [] as number[], before: [] as number[] };
  const kinds = opts.beforeCompaction ? (["plain", "point", "before"] as const) : (["plain", "point"] as const);
  // After BENCH_WARMUP untimed drills of each kind, as for the stagers above (a drill's verification
  // starts workers of its own).
  for (let i = -WARMUP; i < DRILLS; i++) {
    for (const kind of kinds) {
      forgetDerivedKeys();
      const t0 = performance.now();
      const { done } = await startRestore(deps, {
        source: { kind: "backup", setId: opts.setId },
        dryRun: true,
        include: { token: true, cred: false, tls: false },
        confirm: false,
        compareWithLive: false,
        ...(kind === "point" ? { toRevision: opts.target } : kind === "before" ? { toRevision: opts.beforeCompaction } : {}),
      });
      const job = await done;
      if (job.state !== "succeeded") throw new Error(`the ${kind} drill failed: ${job.error}`);
      if (i >= 0) drills[kind].push(performance.now() - t0);
    }
  }
  const plainDrill = pct(drills.plain, 50);
  const pointDrill = pct(drills.point, 50);
  console.log(
    `   as whole drills (stage + verify), median of ${DRILLS}: to the end ${(pointDrill / 1000).toFixed(2)} s vs the base ${(plainDrill / 1000).toFixed(2)} s → ${(pointDrill / plainDrill).toFixed(2)}×  (goal ≤ 2×: ${verdict(pointDrill <= 2 * plainDrill)})`,
  );
  if (opts.beforeCompaction) {
    const beforeDrill = pct(drills.before, 50);
    console.log(
      `   the last point before kine's last compaction (revision ${opts.beforeCompaction}: its whole uncompacted tail live), as whole drills, median of ${DRILLS}: ${(beforeDrill / 1000).toFixed(2)} s vs the base ${(plainDrill / 1000).toFixed(2)} s → ${(beforeDrill / plainDrill).toFixed(2)}×  (goal ≤ 2×: ${verdict(beforeDrill <= 2 * plainDrill)})`,
    );
  }
  // The same drills as an operator runs them: `lifeboat-agent restore … --dry-run`, the bundle, a fresh
  // process each (Node's start, cold workers and the comparison with the live database included).
  const commands = { plain: [] as number[], point: [] as number[] };
  for (let i = 0; i < DRILLS; i++) {
    for (const kind of ["plain", "point"] as const) {
      const args = [
        path.join(ROOT, "agent", "bin", "lifeboat-agent.js"),
        "restore",
        opts.setId,
        ...(kind === "point" ? ["--to-revision", String(opts.target)] : []),
        "--dry-run",
      ];
      const t0 = performance.now();
      execFileSync(process.execPath, args, { env: { ...process.env, ...opts.agentEnv }, stdio: "ignore" });
      commands[kind].push(performance.now() - t0);
    }
  }
  const plainCommand = pct(commands.plain, 50);
  const pointCommand = pct(commands.point, 50);
  console.log(
    `   as commands of their own (the bundled CLI, restore --dry-run, a fresh process each), median of ${DRILLS}: to the end ${(pointCommand / 1000).toFixed(2)} s vs the base ${(plainCommand / 1000).toFixed(2)} s → ${(pointCommand / plainCommand).toFixed(2)}×`,
  );
  if (RTT_MS > 0) await remoteStagings(opts);
}

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
console.log(`bench:continuous — machine: ${(await import("node:os")).cpus().length} cores\n`);
const which = process.env.BENCH_PART ?? "all";
if (which === "all" || which === "live") await live();
if (which === "all" || which === "day") await day();
process.exit(0);
