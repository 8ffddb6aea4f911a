/**
 * `npm run bench:backup` — Lifeboat's backup against the seed CronJob's, same database, same store.
 *
 * 1. Generates a ~200 MB kine database (generateKineDb: lease churn, events, old_value copies; by
 *    with compaction stalled, the incident's growth — a healthy simulated cluster stays a few MB;
 *    BENCH_DB_BYTES changes the size).
 * 2. Runs the seed job (`SEED_CRONJOB`, default ../shared/bench/seed-cronjob.sh: Debian's tar, zstd,
 *    gpg, sqlite3 and awscli, with /usr/bin first on PATH so a pyenv `aws` shim cannot shadow it),
 *    then `lifeboat-agent backup` (the installed bin, i.e. the bundle), both against one local
 *    s3rver, and prints wall time, peak RSS and the ratios. The agent runs with Node's defaults and
 *    with the settings the README's systemd unit uses (NODE_OPTIONS=--max-semi-space-size=1,
 *    MALLOC_MMAP_THRESHOLD_=131072), BENCH_BACKUP_RUNS times each (default 5), alternating: the run
 *    with the median peak is judged, with the median wall time.
 * 3. Idle RSS of `lifeboat-agent serve` (schedule on) after BENCH_IDLE_SECONDS (default 20), with continuous
 *    protection on (the default) and off, each with its anonymous and file-backed parts.
 * 4. The snapshot methods under a kine-like writer (agent/demo/kine-writer.ts): time of each
 *    method, the writer's longest blocked write, and output sizes on a compacted database (where
 *    VACUUM INTO drops the freed pages).
 * 5. Bytes per set (issue 15): what each agent run uploaded (the manifest's objects) and what the
 *    store holds for its set, against ONE `zstd` copy (the CLI, default level) of a VACUUM INTO
 *    snapshot of the same database; and the same for a two-copy set (the layout before issue 15),
 *    made in-process with `layout: "two-copies"`.
 * Goals (issue 15): wall ≤ 0.25× the seed job's, agent peak RSS ≤ the seed job's (tree, Node
 * defaults), idle `serve` ≤ 60 MB, bytes per set ≤ 1.1× one zstd copy. All printed as ratios.
 * Scratch files go to bench/out/backup (git-ignored).
 */
import { spawn, spawnSync } from "node:child_process";
import { startProcess, waitForListening } from "../lib/process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { generateKineDb } from "../agent/kine/generator";
import { openKineDb } from "../agent/kine/schema";
import { KineSimulator } from "../agent/kine/simulator";
import { spawnKineWriter } from "../agent/testing/kine-writer-process";
import { makeStaging, removeStaging, takeSnapshot, type SnapshotMethod } from "../agent/backup/snapshot";
import { startEmbeddedS3 } from "../lib/storage/embedded-s3";
import { zstdCompress } from "../agent/archive";
import { createReadStream } from "node:fs";

const ROOT = path.resolve(import.meta.dirname, "..");
const OUT = path.join(ROOT, "bench", "out", "backup");
const SEED = path.resolve(ROOT, process.env.SEED_CRONJOB ?? "../shared/bench/seed-cronjob.sh");
const DB_BYTES = Number(process.env.BENCH_DB_BYTES ?? 200_000_000);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 20);
/** Runs of each agent configuration (BENCH_BACKUP_RUNS, default 5; 3 until 2026-12-07, when three runs spread 102.6-108.4 MB): the median is judged. */
const RUNS = Math.max(1, Number(process.env.BENCH_BACKUP_RUNS ?? 5));
const TUNED_ENV = { NODE_OPTIONS: "--max-semi-space-size=1", MALLOC_MMAP_THRESHOLD_: "131072" };

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** pid → ppid for every process, from /proc. */
function processTable(): Map<number, number> {
  const t = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      t.set(Number(d), ppid);
    } catch {
      // exited meanwhile
    }
  }
  return t;
}

function rssKb(pid: number, field = "VmRSS"): number {
  try {
    return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

interface Measured {
  code: number | null;
  ms: number;
  /** Largest sum of RSS over the process and its descendants, sampled every 50 ms. */
  peakTreeBytes: number;
  /** The main process's own high-water mark (exact, from the kernel). */
  peakMainBytes: number;
  /**
   * The main process's largest anonymous RSS (sampled): its own memory, without file pages it maps.
   * SQLite reads the snapshot through mmap for the statistics (readKineStats), so VmHWM also counts up
   * to the whole snapshot file of page cache, which the kernel can drop at any time.
   */
  peakAnonBytes: number;
  stdout: string;
  stderr: string;
}

/** Runs a command, sampling the RSS of its whole process tree. */
function measure(cmd: string, args: string[], env: Record<string, string | undefined>): Promise<Measured> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env: env as unknown as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    let peakTree = 0;
    let peakMain = 0;
    let peakAnon = 0;
    const sample = () => {
      peakAnon = Math.max(peakAnon, rssKb(child.pid!, "RssAnon"));
      const table = processTable();
      const tree = [child.pid!];
      for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of table) if (ppid === tree[i]) tree.push(pid);
      peakTree = Math.max(
        peakTree,
        tree.reduce((n, pid) => n + rssKb(pid), 0),
      );
      peakMain = Math.max(peakMain, rssKb(child.pid!, "VmHWM"));
    };
    const timer = setInterval(sample, 50);
    child.on("exit", (code) => {
      clearInterval(timer);
      resolve({
        code,
        ms: performance.now() - t0,
        peakTreeBytes: peakTree * 1024,
        peakMainBytes: peakMain * 1024,
        peakAnonBytes: peakAnon * 1024,
        stdout,
        stderr,
      });
    });
  });
}

function baseEnv(): Record<string, string | undefined> {
  // Debian's awscli (/usr/bin/aws) first: a pyenv shim earlier on PATH would shadow it.
  return { ...process.env, PATH: `/usr/bin:/bin:${process.env.PATH ?? ""}`, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true", LOG_LEVEL: "warn" };
}

async function compressedSize(file: string): Promise<number> {
  let n = 0;
  for await (const c of createReadStream(file).pipe(zstdCompress())) n += (c as Buffer).length;
  return n;
}

/** The set's timestamp from its manifest (`lifeboat-<ts>`). */
function stampOf(manifest: { setId?: string }): string {
  return String(manifest.setId).replace(/^lifeboat-/, "");
}

/** A two-copy set of the same server, in-process through the backup job (not timed: only its bytes count). */
async function twoCopySet(env: Record<string, string | undefined>): Promise<{ uploaded: number; stamp: string }> {
  const [{ loadAgentConfig }, { makeDeps }, { startBackupJob }, pino] = await Promise.all([
    import("../agent/config"),
    import("../agent/deps"),
    import("../agent/backup/run-backup"),
    import("pino"),
  ]);
  await new Promise((r) => setTimeout(r, 1100));
  const deps = makeDeps(loadAgentConfig(env as Record<string, string>), { logDestination: pino.default.destination("/dev/null") });
  const job = await startBackupJob(deps, { retention: false, allowNewPassphrase: false, layout: "two-copies" }, "cli").done;
  if (job.state !== "succeeded") throw new Error(`the two-copy backup failed: ${job.error}`);
  const result = job.result as { setId: string; manifest: { objects: { size: number }[] } };
  return { uploaded: result.manifest.objects.reduce((n, o) => n + o.size, 0), stamp: stampOf(result) };
}

async function main(): Promise<void> {
  for (const tool of ["/usr/bin/aws", "/usr/bin/gpg", "/usr/bin/zstd", "/usr/bin/sqlite3", "/usr/bin/tar"]) {
    if (!existsSync(tool)) throw new Error(`${tool} is missing: apt-get install -y awscli gnupg zstd sqlite3 tar`);
  }
  if (!existsSync(SEED)) throw new Error(`The seed job is not at ${SEED}: set SEED_CRONJOB to its path.`);
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  console.log(`bench:backup — ${mb(DB_BYTES)} kine database (compaction stalled); machine: ${(await import("node:os")).cpus().length} cores\n`);

  // 1. The database, in a k3s-like server directory (WAL mode, as a live k3s leaves it).
  const serverDir = path.join(OUT, "server");
  mkdirSync(path.join(serverDir, "db"), { recursive: true });
  const dbPath = path.join(serverDir, "db", "state.db");
  const t = performance.now();
  const gen = generateKineDb(dbPath, { targetBytes: DB_BYTES, compaction: "stuck", keepWal: true, seed: 1 });
  writeFileSync(path.join(serverDir, "token"), gen.token + "\n", { mode: 0o600 });
  console.log(`generated ${mb(gen.bytes)}, ${gen.rows} rows in ${secs(performance.now() - t)}`);
  const passFile = path.join(OUT, "passphrase");
  writeFileSync(passFile, "bench passphrase\n", { mode: 0o600 });

  const s3 = await startEmbeddedS3({ directory: path.join(OUT, "s3"), buckets: ["bench"] });
  try {
    const s3Env = {
      AWS_S3_ENDPOINT: s3.endpoint,
      AWS_S3_BUCKET: "bench",
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
      AWS_DEFAULT_REGION: "us-east-1",
    };

    // 2a. The seed CronJob, as written in the incident write-up.
    const gnupg = path.join(OUT, "gnupg");
    mkdirSync(gnupg, { mode: 0o700 });
    mkdirSync(path.join(OUT, "seed-work"), { recursive: true });
    const seed = await measure("bash", [SEED], {
      ...baseEnv(),
      ...s3Env,
      AWS_S3_PATH: "k3s",
      DB_DIR: path.dirname(dbPath),
      PASSPHRASE_FILE: passFile,
      WORK_DIR: path.join(OUT, "seed-work"),
      GNUPGHOME: gnupg,
    });
    if (seed.code !== 0) throw new Error(`the seed job failed (${seed.code}):\n${seed.stderr}`);

    // 2b. lifeboat-agent backup, through the installed bin (bundle built beforehand, not timed).
    const build = spawnSync(process.execPath, [path.join(ROOT, "agent/bin/build-agent.mjs")], { stdio: "inherit" });
    if (build.status !== 0) throw new Error("building the agent bundle failed");
    const agentEnv = {
      ...baseEnv(),
      ...s3Env,
      AWS_S3_PATH: "k3s",
      LIFEBOAT_K3S_SERVER_DIR: serverDir,
      LIFEBOAT_PASSPHRASE_FILE: passFile,
      LIFEBOAT_STATE_DIR: path.join(OUT, "agent-state"),
    };
    const bin = path.join(ROOT, "agent/bin/lifeboat-agent.js");
    type Run = { label: string; m: Measured; manifest: { setId: string; objects: { size: number }[]; timings: Record<string, number> } };
    // Each configuration RUNS times, alternating; the median run by peak is the one judged (single
    // runs of the agent's peak spread ±4 MB on this machine, the seed job's by less than 0.1 MB).
    const all: Run[] = [];
    for (let i = 0; i < RUNS; i++) {
      for (const [label, extra] of [
        ["agent (Node defaults)", {}],
        ["agent (README systemd settings)", TUNED_ENV],
      ] as const) {
        await new Promise((r) => setTimeout(r, 1100)); // one set per second: the next gets its own name
        const m = await measure(process.execPath, [bin, "backup", "--no-retention"], { ...agentEnv, ...extra });
        if (m.code !== 0) throw new Error(`lifeboat-agent backup failed (${m.code}):\n${m.stderr}`);
        all.push({ label, m, manifest: JSON.parse(m.stdout).manifest });
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const runs: Run[] = [...new Set(all.map((r) => r.label))].map((label) => {
      const mine = all.filter((r) => r.label === label);
      const byPeak = [...mine].sort((a, b) => a.m.peakMainBytes - b.m.peakMainBytes);
      const judged = byPeak[Math.floor(byPeak.length / 2)];
      return { ...judged, m: { ...judged.m, ms: median(mine.map((r) => r.m.ms)) } };
    });

    const seedBytes = readdirSync(path.join(OUT, "s3", "bench", "k3s"), { recursive: true })
      .map(String)
      .filter((f) => /^(k3s_db_|state_).*\.gpg\._S3rver_object$/.test(path.basename(f)))
      .reduce((n, f) => n + statSync(path.join(OUT, "s3", "bench", "k3s", f)).size, 0);
    console.log(`\n== backup of the same database into the same s3rver (the agent: median of ${RUNS} runs each, alternating) ==`);
    console.log(
      `${"job".padEnd(34)} ${"wall".padStart(9)} ${"peak RSS (tree)".padStart(16)} ${"peak VmHWM".padStart(11)} ${"peak anon".padStart(10)} ${"uploaded".padStart(10)}`,
    );
    console.log(
      `${"seed CronJob (tar|zstd, gpg, aws)".padEnd(34)} ${secs(seed.ms).padStart(9)} ${mb(seed.peakTreeBytes).padStart(16)} ${"(many)".padStart(11)} ${"".padStart(10)} ${(seedBytes ? mb(seedBytes) : "?").padStart(10)}`,
    );
    for (const r of runs) {
      const up = r.manifest.objects.reduce((n, o) => n + o.size, 0);
      console.log(
        `${r.label.padEnd(34)} ${secs(r.m.ms).padStart(9)} ${mb(r.m.peakTreeBytes).padStart(16)} ${mb(r.m.peakMainBytes).padStart(11)} ${mb(r.m.peakAnonBytes).padStart(10)} ${mb(up).padStart(10)}`,
      );
      const mine = all.filter((x) => x.label === r.label);
      console.log(`${"".padEnd(34)}   each run: wall ${mine.map((x) => secs(x.m.ms)).join(", ")}; peak ${mine.map((x) => mb(x.m.peakMainBytes)).join(", ")}`);
    }
    for (const r of runs) {
      const ratio = r.m.ms / seed.ms;
      const rss = r.m.peakMainBytes / seed.peakTreeBytes;
      console.log(
        `${r.label}: wall ${ratio.toFixed(2)}× the seed job's (goal ≤ 0.25×: ${ratio <= 0.25 ? "met" : "NOT met"}); peak RSS ${mb(r.m.peakMainBytes)} = ${rss.toFixed(2)}× the seed job's ${mb(seed.peakTreeBytes)}, of it anonymous ${mb(r.m.peakAnonBytes)} (goal ≤ 1×: ${rss <= 1 ? "met" : r.m.peakAnonBytes <= seed.peakTreeBytes ? "met for anonymous memory only" : "NOT met"})`,
      );
      console.log(`  agent step timings (ms): ${JSON.stringify(r.manifest.timings)}`);
    }

    // 5. Bytes per set against one zstd copy of the snapshot (the CLI, its default level).
    const snapDir = await makeStaging(path.join(OUT, "snapshots"), "bytes");
    const snap = await takeSnapshot(dbPath, snapDir);
    const oneCopy = Number(
      spawnSync("sh", ["-c", `zstd -q -c ${JSON.stringify(snap.path)} | wc -c`])
        .stdout.toString()
        .trim(),
    );
    await removeStaging(snapDir);
    const storedBytes = (ts: string) =>
      readdirSync(path.join(OUT, "s3", "bench", "k3s"), { recursive: true })
        .map(String)
        .filter((f) => path.basename(f).startsWith(`lifeboat_${ts}_`) && f.endsWith("._S3rver_object"))
        .reduce((n, f) => n + statSync(path.join(OUT, "s3", "bench", "k3s", f)).size, 0);
    const twoCopies = await twoCopySet(agentEnv);
    console.log(`\n== bytes per set, against one \`zstd\` copy of the snapshot (${mb(oneCopy)} of a ${mb(snap.bytes)} snapshot) ==`);
    for (const [label, up, ts] of [
      ...runs.map((r) => [r.label + ", one copy", r.manifest.objects.reduce((n, o) => n + o.size, 0), stampOf(r.manifest)] as const),
      ["two copies (layout before issue 15)", twoCopies.uploaded, twoCopies.stamp] as const,
    ]) {
      const stored = storedBytes(ts);
      console.log(
        `${label.padEnd(46)} uploaded ${mb(up).padStart(9)} = ${(up / oneCopy).toFixed(2)}×, stored ${mb(stored).padStart(9)} = ${(stored / oneCopy).toFixed(2)}× (goal ≤ 1.10×: ${stored / oneCopy <= 1.1 ? "met" : "NOT met"})`,
      );
    }

    // 3. Idle RSS of `serve`: as configured by default (continuous protection on, waiting for its first
    //    base), and with the log off (LIFEBOAT_LOG_INTERVAL_SECONDS=0), with its anonymous and file-backed
    //    parts (file: mostly the `node` executable's own pages).
    console.log(`\n== idle \`lifeboat-agent serve\` (schedule on) ==`);
    for (const [label, extra] of [
      ["continuous protection on (default)", {}],
      ["continuous protection off", { LIFEBOAT_LOG_INTERVAL_SECONDS: "0" }],
    ] as const) {
      const idle = startProcess(process.execPath, [bin, "serve"], {
        env: {
          ...agentEnv,
          // A fresh agent's state: with the backups' (above) its log would take their newest set as its
          // first base and ship (base-hook.ts); the shipping agent's memory is bench:continuous's to measure.
          LIFEBOAT_STATE_DIR: path.join(OUT, `idle-state-${extra.LIFEBOAT_LOG_INTERVAL_SECONDS ?? "on"}`),
          LIFEBOAT_AGENT_TOKEN: "bench-agent-token-0123456789abcdef",
          LIFEBOAT_AGENT_PORT: "0",
          LIFEBOAT_AGENT_HOST: "127.0.0.1",
          LIFEBOAT_BACKUP_SCHEDULE: "0 0 * * *",
          LIFEBOAT_AGENT_INSECURE_HTTP: "true", // plain HTTP on loopback: the bench fetches /livez without the certificate
          ...extra,
        } as unknown as NodeJS.ProcessEnv,
        group: false,
      });
      const url = await waitForListening(idle, { timeoutMs: 20_000, what: "lifeboat-agent serve" });
      for (let i = 0; i < 10; i++) await fetch(`${url}/livez`);
      await new Promise((r) => setTimeout(r, 3000));
      const idleEarly = rssKb(idle.child.pid!) * 1024;
      await new Promise((r) => setTimeout(r, Math.max(0, IDLE_SECONDS - 3) * 1000));
      const pid = idle.child.pid!;
      const [idleSettled, anon, file] = [rssKb(pid), rssKb(pid, "RssAnon"), rssKb(pid, "RssFile")].map((kb) => kb * 1024);
      await idle.stop();
      console.log(
        `${label}: RSS ${mb(idleEarly)} 3 s after start, ${mb(idleSettled)} after ${IDLE_SECONDS} s (anonymous ${mb(anon)}, file-backed ${mb(file)}) (goal ≤ 60 MB: ${idleSettled <= 60e6 ? "met" : "NOT met"})`,
      );
    }

    // 4. Snapshot methods under a kine-like writer, on the stalled database and on the same one
    //    after kine compacted it (steady state: small live data, a big file of free pages).
    const staging = path.join(OUT, "snapshots");
    const compacted = path.join(OUT, "compacted.db");
    copyFileSync(dbPath, compacted);
    const cdb = openKineDb(compacted);
    new KineSimulator(cdb, { seed: 1 }).compact();
    cdb.pragma("wal_checkpoint(TRUNCATE)");
    cdb.close();
    console.log("\n== snapshots while a kine-like writer writes (leases every 200 ms; kine's compaction + wal_checkpoint(FULL) on its own connection) ==");
    for (const [label, source, compactEveryMs] of [
      ["compaction stalled (the writer does not compact)", dbPath, 0],
      ["after kine compacted it (the writer compacts every 2 s)", compacted, 2000],
    ] as const) {
      const live = path.join(OUT, "live.db");
      rmSync(live, { force: true });
      copyFileSync(source, live);
      const writer = await spawnKineWriter({ db: live, intervalMs: 200, compactEveryMs });
      await new Promise((r) => setTimeout(r, 4000));
      const alone = await writer.report();
      const times: Record<string, string[]> = { "vacuum-into": [], "backup-one-step": [] };
      const sizes: Record<string, number> = {};
      for (let i = 0; i < 6; i++) {
        const method: SnapshotMethod = i % 2 === 0 ? "vacuum-into" : "backup-one-step";
        const dir = await makeStaging(staging, "bench");
        const snap = await takeSnapshot(live, dir, method);
        times[method].push(secs(snap.ms));
        if (i < 2) {
          sizes[`${method}-raw`] = snap.bytes;
          sizes[method] = await compressedSize(snap.path);
        }
        await removeStaging(dir);
        await new Promise((r) => setTimeout(r, 700));
      }
      const withSnaps = await writer.stop();
      console.log(`${label} (file ${mb(statSync(live).size)}):`);
      for (const m of ["vacuum-into", "backup-one-step"])
        console.log(`  ${m.padEnd(16)} ${times[m].join(", ")}; copy ${mb(sizes[m + "-raw"])}, ${mb(sizes[m])} zstd`);
      console.log(
        `  writer: longest blocked write ${alone.maxBlockedMs} ms in 4 s alone, ${withSnaps.maxBlockedMs} ms over the whole run with the snapshots (p99 ${withSnaps.p99BlockedMs} ms, ${withSnaps.writes} writes)`,
      );
    }
  } finally {
    spawnSync("gpgconf", ["--homedir", path.join(OUT, "gnupg"), "--kill", "gpg-agent"], { stdio: "ignore" });
    await s3.stop();
  }
}

main().catch((err) => {
  console.error(`bench:backup failed: ${(err as Error).message}`);
  process.exit(1);
});
