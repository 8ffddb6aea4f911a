/**
 * A test writer PROCESS that writes to a SQLite file the way kine does for k3s, for tests and
 * benchmarks that need a live, busy datastore (the backup snapshot tests; the fake k3s of the
 * restore tests reuses it).
 *
 * How it writes (agent/kine/simulator.ts, agent/kine/schema.ts): kine's exact schema and INSERT,
 * WAL mode, busy_timeout 30 s, synchronous NORMAL; every `--interval-ms` (default 250 ms) one
 * "tick" of cluster life: leader-election lease renewals, node leases every 5th tick, events created
 * (lease 3600) and later deleted, pods replaced, configmaps changed. Each write is its own
 * autocommit statement, like kine's. Every `--compact-every-ms` (default 2000 ms; 0 = never) it
 * compacts like kine: batches of 1000 revisions, each an IMMEDIATE transaction with kine's DELETE
 * and compact_rev_key UPDATE, keeping the newest 1000 revisions, then `PRAGMA wal_checkpoint(FULL)`.
 * An existing database is continued (its keys learned); a new one is seeded first.
 *
 * Usage:
 *   node --import tsx agent/testing/kine-writer.ts --db <path> [--interval-ms 250]
 *        [--compact-every-ms 2000 | --no-compaction] [--seed 42] [--nodes 3] [--token <k3s token>]
 *        [--report-every-ms 0]
 * or the same through the environment: KINE_WRITER_DB, KINE_WRITER_INTERVAL_MS,
 * KINE_WRITER_COMPACT_EVERY_MS (0 = off), KINE_WRITER_SEED, KINE_WRITER_NODES, KINE_WRITER_TOKEN,
 * KINE_WRITER_REPORT_EVERY_MS. Flags win over the environment.
 *
 * Output: JSON lines on stdout.
 *   {"event":"ready","pid":N,"db":"…","revision":N}        once the database is open and seeded
 *   {"event":"report", …WriterReport}                      every --report-every-ms, and on SIGUSR2
 *   {"event":"stopped", …WriterReport}                     on SIGTERM/SIGINT, then exit 0
 * WriterReport: ticks, writes, compactions, rowsCompacted, revision, and the latencies in ms:
 *   maxBlockedMs / p99BlockedMs / p50BlockedMs — for each tick, from the moment it was due to the
 *     moment its writes were committed. This is "how long a kine write was held up": it includes
 *     waiting on SQLite locks (busy handler) and any stall of the process, e.g. a
 *     wal_checkpoint(FULL) waiting for a reader (which in kine blocks new writers while it waits);
 *   maxWriteMs — the longest tick's write statements alone;
 *   maxCompactMs, maxCheckpointMs — the writer's own compaction batches and checkpoints.
 * Errors (e.g. the database vanished) are printed as {"event":"error","message":…} and exit 1.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { openKineDb } from "../kine/schema";
import { KineSimulator } from "../kine/simulator";

export interface WriterReport {
  ticks: number;
  writes: number;
  compactions: number;
  rowsCompacted: number;
  revision: number;
  maxBlockedMs: number;
  p99BlockedMs: number;
  p50BlockedMs: number;
  maxWriteMs: number;
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
  const r: WriterReport = { ticks: 0, writes: 0, compactions: 0, rowsCompacted: 0, revision: 0, maxBlockedMs: 0, p99BlockedMs: 0, p50BlockedMs: 0, maxWriteMs: 0, maxCompactMs: 0, maxCheckpointMs: 0 };
  const report = (): WriterReport => {
    const sorted = [...blocked].sort((a, b) => a - b);
    const round = (n: number) => Math.round(n * 10) / 10;
    return {
      ...r,
      revision: sim.currentRevision(),
      maxBlockedMs: round(r.maxBlockedMs),
      p99BlockedMs: round(percentile(sorted, 99)),
      p50BlockedMs: round(percentile(sorted, 50)),
      maxWriteMs: round(r.maxWriteMs),
      maxCompactMs: round(r.maxCompactMs),
      maxCheckpointMs: round(r.maxCheckpointMs),
    };
  };

  let stopped = false;
  const start = performance.now();
  let tickNo = 0;
  let nextCompact = compactEveryMs > 0 ? start + compactEveryMs : Infinity;

  const loop = () => {
    if (stopped) return;
    const due = start + tickNo * intervalMs;
    const t0 = performance.now();
    r.writes += sim.tick();
    const t1 = performance.now();
    r.ticks++;
    r.maxWriteMs = Math.max(r.maxWriteMs, t1 - t0);
    const late = t1 - due;
    if (blocked.length < 200_000) blocked.push(late);
    r.maxBlockedMs = Math.max(r.maxBlockedMs, late);
    if (t1 >= nextCompact) {
      const c0 = performance.now();
      r.rowsCompacted += sim.compact();
      const c1 = performance.now();
      db.pragma("wal_checkpoint(FULL)");
      const c2 = performance.now();
      r.compactions++;
      r.maxCompactMs = Math.max(r.maxCompactMs, c1 - c0);
      r.maxCheckpointMs = Math.max(r.maxCheckpointMs, c2 - c1);
      nextCompact = c2 + compactEveryMs;
    }
    tickNo++;
    // If we fell behind, the next tick is due already: it runs at once and counts its lateness.
    setTimeout(loop, Math.max(0, start + tickNo * intervalMs - performance.now()));
  };

  const stop = () => {
    if (stopped) return;
    stopped = true;
    const final = report();
    db.close();
    emit({ event: "stopped", ...final });
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.on("SIGUSR2", () => emit({ event: "report", ...report() }));
  if (reportEveryMs > 0) setInterval(() => emit({ event: "report", ...report() }), reportEveryMs).unref();

  emit({ event: "ready", pid: process.pid, db: dbPath, revision: sim.currentRevision() });
  loop();
}

export interface KineWriterOptions {
  db: string;
  intervalMs?: number;
  /** 0 turns compaction off. */
  compactEveryMs?: number;
  seed?: number;
  nodes?: number;
  token?: string;
}

export interface RunningKineWriter {
  process: ChildProcess;
  /** Asks for a report (SIGUSR2) and resolves with it. */
  report(): Promise<WriterReport>;
  /** Stops the writer (SIGTERM) and resolves with its final report. */
  stop(): Promise<WriterReport>;
}

/**
 * Starts the writer as a child process (`node --import tsx` this file) and resolves once it reports
 * "ready". Rejects with its error output when it exits first.
 */
export async function spawnKineWriter(opts: KineWriterOptions): Promise<RunningKineWriter> {
  const self = fileURLToPath(import.meta.url);
  const args = ["--import", "tsx", self, "--db", opts.db];
  if (opts.intervalMs !== undefined) args.push("--interval-ms", String(opts.intervalMs));
  if (opts.compactEveryMs !== undefined) args.push("--compact-every-ms", String(opts.compactEveryMs));
  if (opts.seed !== undefined) args.push("--seed", String(opts.seed));
  if (opts.nodes !== undefined) args.push("--nodes", String(opts.nodes));
  if (opts.token !== undefined) args.push("--token", opts.token);
  const child = spawn(process.execPath, args, { cwd: path.resolve(path.dirname(self), "../.."), stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += String(d)));
  const waiters: { event: string; resolve(v: Record<string, unknown>): void; reject(e: Error): void }[] = [];
  let buf = "";
  child.stdout!.on("data", (d) => {
    buf += String(d);
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      const i = waiters.findIndex((w) => w.event === msg.event || msg.event === "error");
      if (i >= 0) {
        const [w] = waiters.splice(i, 1);
        if (msg.event === "error") w.reject(new Error(`kine writer: ${msg.message}`));
        else w.resolve(msg);
      }
    }
  });
  child.once("exit", (code) => {
    for (const w of waiters.splice(0)) w.reject(new Error(`kine writer exited (${code}) before "${w.event}": ${stderr.trim()}`));
  });
  const wait = (event: string) => new Promise<Record<string, unknown>>((resolve, reject) => waiters.push({ event, resolve, reject }));
  await wait("ready");
  return {
    process: child,
    async report() {
      const p = wait("report");
      child.kill("SIGUSR2");
      return (await p) as unknown as WriterReport;
    },
    async stop() {
      const p = wait("stopped");
      child.kill("SIGTERM");
      return (await p) as unknown as WriterReport;
    },
  };
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (isMain) {
  try {
    main();
  } catch (err) {
    emit({ event: "error", message: (err as Error).message });
    process.exit(1);
  }
}
