/**
 * A writer PROCESS that writes to a SQLite file the way kine does for k3s: the cluster activity of
 * the demo's simulated k3s (simulated-k3s.ts), and a live, busy datastore for tests and benchmarks
 * (the backup snapshot tests, the restore tests, bench:backup).
 *
 * How it writes (agent/kine/simulator.ts, agent/kine/schema.ts): kine's exact schema and INSERT,
 * WAL mode, busy_timeout 30 s, synchronous NORMAL; every `--interval-ms` (default 250 ms) one
 * "tick" of cluster life: leader-election lease renewals, node leases every 5th tick, events created
 * (lease 3600) and later deleted, pods replaced, configmaps changed. Each write is its own
 * autocommit statement, like kine's. Every `--compact-every-ms` (default 2000 ms; 0 = never) a
 * second connection on a worker thread compacts like kine's compactor goroutine: batches of 1000
 * revisions, each an IMMEDIATE transaction with kine's DELETE and compact_rev_key UPDATE, keeping
 * the newest 1000 revisions, then `PRAGMA wal_checkpoint(FULL)`. An existing database is continued
 * (its keys learned); a new one is seeded first.
 *
 * Usage:
 *   node --import tsx agent/demo/kine-writer.ts --db <path> [--interval-ms 250]
 *        [--compact-every-ms 2000 | --no-compaction] [--seed 42] [--nodes 3] [--token <k3s token>]
 *        [--report-every-ms 0]
 * or the same through the environment: KINE_WRITER_DB, KINE_WRITER_INTERVAL_MS,
 * KINE_WRITER_COMPACT_EVERY_MS (0 = off), KINE_WRITER_SEED, KINE_WRITER_NODES, KINE_WRITER_TOKEN,
 * KINE_WRITER_REPORT_EVERY_MS. Flags win over the environment. Tests start it with
 * `spawnKineWriter` (agent/testing/kine-writer-process.ts).
 *
 * Output: JSON lines on stdout.
 *   {"event":"ready","pid":N,"db":"…","revision":N}        once the database is open and seeded
 *   {"event":"report", …WriterReport}                      every --report-every-ms, and on SIGUSR2
 *   {"event":"stopped", …WriterReport}                     on SIGTERM/SIGINT, then exit 0
 * WriterReport: ticks, writes, compactions, rowsCompacted, revision, and latencies in ms:
 *   maxBlockedMs / p99BlockedMs / p50BlockedMs — how long one tick's write statements took, i.e. how
 *     long kine's writes were held up. It includes waiting on SQLite's locks (the busy handler), e.g.
 *     behind a compaction batch or a wal_checkpoint(FULL) that waits for a reader (a pending FULL
 *     checkpoint blocks new writers). It does not count the process merely being scheduled late, nor
 *     the time the thread sat runnable but off the CPU in the middle of a tick (read from
 *     /proc/thread-self/schedstat where there is one): on a loaded machine that is the scheduler's
 *     doing, not a lock's, and it made tests that bound this figure fail under load;
 *   maxLateMs — the worst lateness of a tick against its schedule (CPU starvation shows here);
 *   maxCompactMs, maxCheckpointMs — the compactor's longest batch run and checkpoint.
 * Errors (e.g. the database vanished) are printed as {"event":"error","message":…} and exit 1.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { openKineDb } from "../kine/schema";
import { KineSimulator } from "../kine/simulator";
import { startModuleWorker } from "../sqlite/worker";

export interface WriterReport {
  ticks: number;
  writes: number;
  compactions: number;
  rowsCompacted: number;
  revision: number;
  maxBlockedMs: number;
  p99BlockedMs: number;
  p50BlockedMs: number;
  maxLateMs: number;
  maxCompactMs: number;
  maxCheckpointMs: number;
}

function option(args: string[], name: string, env: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < args.length) return args[i + 1];
  const eq = args.find((a) => a.startsWith(`--${name}=`));
  if (eq) return eq.slice(name.length + 3);
  return process.env[env] || undefined;
}

function numberOption(args: string[], name: string, env: string, def: number): number {
  const v = option(args, name, env);
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} (${env}) must be a number ≥ 0, got ${JSON.stringify(v)}`);
  return n;
}

const emit = (obj: Record<string, unknown>) => process.stdout.write(JSON.stringify(obj) + "\n");

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

interface CompactorResult {
  rows: number;
  compactMs: number;
  checkpointMs: number;
}

/**
 * kine compacts on its own goroutine and connection while the API keeps writing; so does this: a
 * worker thread with its own connection, so a compaction (or a checkpoint waiting on a reader)
 * blocks the writes through SQLite's locks, exactly as in kine, and not by stalling our event loop.
 */
function compactorMain(data: { dbPath: string; everyMs: number }): void {
  const db = openKineDb(data.dbPath);
  const sim = new KineSimulator(db, {});
  setInterval(() => {
    const c0 = performance.now();
    const rows = sim.compact();
    const c1 = performance.now();
    db.pragma("wal_checkpoint(FULL)");
    const c2 = performance.now();
    parentPort!.postMessage({ rows, compactMs: c1 - c0, checkpointMs: c2 - c1 } satisfies CompactorResult);
  }, data.everyMs);
}

/** Milliseconds this thread has spent runnable but waiting for a CPU, or null without schedstat. */
function runqueueWaitMs(): number | null {
  try {
    return Number(readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[1]) / 1e6;
  } catch {
    return null;
  }
}

function main(): void {
  const args = process.argv.slice(2);
  const dbPath = option(args, "db", "KINE_WRITER_DB");
  if (!dbPath) throw new Error("--db <path> (or KINE_WRITER_DB) is required");
  const intervalMs = numberOption(args, "interval-ms", "KINE_WRITER_INTERVAL_MS", 250);
  const compactEveryMs = args.includes("--no-compaction") ? 0 : numberOption(args, "compact-every-ms", "KINE_WRITER_COMPACT_EVERY_MS", 2000);
  const reportEveryMs = numberOption(args, "report-every-ms", "KINE_WRITER_REPORT_EVERY_MS", 0);
  const db = openKineDb(dbPath);
  const sim = new KineSimulator(db, {
    seed: numberOption(args, "seed", "KINE_WRITER_SEED", 42),
    nodes: numberOption(args, "nodes", "KINE_WRITER_NODES", 3),
    token: option(args, "token", "KINE_WRITER_TOKEN"),
  });
  sim.seed();

  const blocked: number[] = [];
  const r: WriterReport = {
    ticks: 0,
    writes: 0,
    compactions: 0,
    rowsCompacted: 0,
    revision: 0,
    maxBlockedMs: 0,
    p99BlockedMs: 0,
    p50BlockedMs: 0,
    maxLateMs: 0,
    maxCompactMs: 0,
    maxCheckpointMs: 0,
  };
  const report = (): WriterReport => {
    const sorted = [...blocked].sort((a, b) => a - b);
    const round = (n: number) => Math.round(n * 10) / 10;
    return {
      ...r,
      revision: sim.currentRevision(),
      maxBlockedMs: round(r.maxBlockedMs),
      p99BlockedMs: round(percentile(sorted, 99)),
      p50BlockedMs: round(percentile(sorted, 50)),
      maxLateMs: round(r.maxLateMs),
      maxCompactMs: round(r.maxCompactMs),
      maxCheckpointMs: round(r.maxCheckpointMs),
    };
  };

  let compactor: Worker | null = null;
  if (compactEveryMs > 0) {
    // This file again, on a worker thread: from the sources, or itself when built as plain JavaScript (plain-js.ts).
    compactor = startModuleWorker(new URL(import.meta.url), path.basename(fileURLToPath(import.meta.url)), {
      kineWriterCompactor: true,
      dbPath,
      everyMs: compactEveryMs,
    });
    compactor.on("message", (m: CompactorResult) => {
      r.compactions++;
      r.rowsCompacted += m.rows;
      r.maxCompactMs = Math.max(r.maxCompactMs, m.compactMs);
      r.maxCheckpointMs = Math.max(r.maxCheckpointMs, m.checkpointMs);
    });
    compactor.on("error", (err) => {
      emit({ event: "error", message: `compactor: ${err.message}` });
      process.exit(1);
    });
  }

  let stopped = false;
  const start = performance.now();
  let tickNo = 0;
  const loop = () => {
    if (stopped) return;
    const due = start + tickNo * intervalMs;
    const w0 = runqueueWaitMs();
    const t0 = performance.now();
    r.writes += sim.tick();
    const t1 = performance.now();
    const w1 = runqueueWaitMs();
    r.ticks++;
    const took = Math.max(0, t1 - t0 - (w0 !== null && w1 !== null ? w1 - w0 : 0));
    if (blocked.length < 200_000) blocked.push(took);
    r.maxBlockedMs = Math.max(r.maxBlockedMs, took);
    r.maxLateMs = Math.max(r.maxLateMs, t1 - due);
    tickNo++;
    // If we fell behind, the next tick is due already and runs at once.
    setTimeout(loop, Math.max(0, start + tickNo * intervalMs - performance.now()));
  };

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await compactor?.terminate();
    const final = report();
    db.close();
    emit({ event: "stopped", ...final });
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
  process.on("SIGUSR2", () => emit({ event: "report", ...report() }));
  if (reportEveryMs > 0) setInterval(() => emit({ event: "report", ...report() }), reportEveryMs).unref();

  emit({ event: "ready", pid: process.pid, db: dbPath, revision: sim.currentRevision() });
  loop();
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (!isMainThread && (workerData as { kineWriterCompactor?: boolean } | null)?.kineWriterCompactor) {
  compactorMain(workerData as { dbPath: string; everyMs: number });
} else if (isMain) {
  try {
    main();
  } catch (err) {
    emit({ event: "error", message: (err as Error).message });
    process.exit(1);
  }
}
