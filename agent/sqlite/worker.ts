import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { CheckOutcome, IntegrityPragma } from "./check";
import { fromTaskError, runSqliteTask, type SqliteTask, type SqliteTaskResult, type TaskError } from "./tasks";

/**
 * SQLite off the main thread. integrity_check reads the whole file (seconds for a large database)
 * and SQLite calls are synchronous: on the main thread they would stall the agent's HTTP service
 * (progress polls, health) for that long. On a worker they also run on the second core alongside
 * the main thread's work: a backup compresses, encrypts and uploads the snapshot while the worker
 * checks it; a restore's verify step reads kine's shape, statistics and token while it checks.
 */

/**
 * Starts a worker thread on a module of the agent. From the sources (tsx) a worker does not inherit
 * `--import tsx`, so tsx is registered in it first and `source` imported; from the bundle
 * (agent/dist/<build>/) it runs `bundled`, an entry point build-agent.mjs writes beside the chunks.
 * Throws when neither can be started.
 */
export function startModuleWorker(source: URL, bundled: string | null, workerData?: unknown): Worker {
  if (import.meta.url.endsWith(".ts")) {
    return new Worker(`import("tsx/esm/api").then((m) => { m.register(); return import(${JSON.stringify(source.href)}); })`, { eval: true, workerData });
  }
  const file = bundled ? fileURLToPath(new URL(`./${bundled}`, import.meta.url)) : null;
  if (!file || !existsSync(file)) throw new Error(`no bundled worker entry ${bundled ?? `for ${source.href}`}`);
  return new Worker(file, { workerData });
}

/** A worker thread with SQLite loaded, for one task (agent/sqlite/tasks.ts). */
export interface SqliteWorker {
  /** Resolves once SQLite is loaded on the worker (or the worker failed: then `run` says why). Never rejects. */
  readonly ready: Promise<void>;
  /** Runs the task. Rejects with what the task throws (SnapshotError), or when the worker stops. One task at a time. */
  run<T extends SqliteTask>(task: T): Promise<SqliteTaskResult<T>>;
  /** False once the worker stopped (disposed, crashed): it runs no more tasks. */
  readonly alive: boolean;
  /** Stops the worker (a task it was running is abandoned: `run` rejects). */
  dispose(): void;
}

type Reply = { ready: true } | { ok: true; result: unknown } | { ok: false; error: TaskError };

/**
 * Starts the worker now, so that starting a thread and loading SQLite (~50 ms from the bundle) overlap
 * with whatever comes before the task (a restore's download and decompression) instead of adding to
 * it. When no worker can be started, tasks run on the calling thread. Never throws.
 */
export function startSqliteWorker(): SqliteWorker {
  let worker: Worker;
  try {
    worker = startModuleWorker(new URL("./worker-thread.ts", import.meta.url), "worker-thread.js");
    started++;
  } catch {
    return {
      ready: Promise.resolve(),
      run: async (task) => runSqliteTask(task),
      alive: true,
      dispose() {},
    };
  }
  // A worker waiting for its task does not keep the process alive (a CLI run that fails first).
  worker.unref();
  let stopped: Error | null = null;
  let settle: ((r: { result?: unknown; error?: Error }) => void) | null = null;
  const finish = (r: { result?: unknown; error?: Error }) => {
    const s = settle;
    settle = null;
    s?.(r);
  };
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  worker.on("message", (m: Reply) => {
    if ("ready" in m) return markReady();
    if (m.ok) return finish({ result: m.result });
    finish({ error: fromTaskError(m.error) });
  });
  worker.on("error", (err) => {
    stopped ??= err;
    markReady();
    finish({ error: err });
  });
  worker.on("exit", (code) => {
    stopped ??= new Error(`the SQLite worker stopped (exit code ${code})`);
    markReady();
    finish({ error: stopped });
  });
  let busy = false;
  return {
    ready,
    run<T extends SqliteTask>(task: T): Promise<SqliteTaskResult<T>> {
      if (busy) return Promise.reject(new Error("a SqliteWorker runs one task at a time"));
      return new Promise<SqliteTaskResult<T>>((resolve, reject) => {
        if (stopped) return reject(stopped);
        busy = true;
        settle = (r) => {
          busy = false;
          worker.unref();
          if (r.error) reject(r.error);
          else resolve(r.result as SqliteTaskResult<T>);
        };
        worker.ref();
        worker.postMessage(task);
      });
    },
    get alive() {
      return !stopped;
    },
    dispose() {
      stopped ??= new Error("the SQLite worker was stopped");
      // The task is abandoned now: a reply the thread had already posted before it stops is not a verdict.
      finish({ error: stopped });
      void worker.terminate();
    },
  };
}

/**
 * Workers that finished a task, kept for the next one for a while: a restore runs half a dozen
 * tasks in a row, and a worker costs a thread start and SQLite's load each time (~50 ms from the
 * bundle, a second through tsx on a busy machine). An idle one is stopped after IDLE_MS.
 */
const idle: { worker: SqliteWorker; timer: NodeJS.Timeout }[] = [];
const IDLE_MS = 10_000;

/** An idle worker of the pool, or a new one. Never throws. */
function takeWorker(): SqliteWorker {
  const reused = idle.pop();
  if (reused) clearTimeout(reused.timer);
  return reused?.worker ?? startSqliteWorker();
}

/** Keeps a worker that finished its task for the next one, for IDLE_MS. */
function keepIdle(worker: SqliteWorker): void {
  if (!worker.alive) return;
  const timer = setTimeout(() => {
    const i = idle.findIndex((x) => x.worker === worker);
    if (i >= 0) idle.splice(i, 1);
    worker.dispose();
  }, IDLE_MS);
  timer.unref();
  idle.push({ worker, timer });
}

let started = 0;

/** Worker threads started so far by this process (for tests). */
export function sqliteWorkersStarted(): number {
  return started;
}

/** Idle workers kept for the next task (for tests). */
export function idleSqliteWorkers(): number {
  return idle.length;
}

/**
 * A worker for a task its caller may have to stop (`dispose`), or hand back when it is done
 * (releaseSqliteWorker): an idle one of the pool when there is one, else a new one. A backup checks
 * its snapshot on the worker that has just copied it: a second worker beside the idle one held its own
 * thread, V8 heap and malloc arena through the whole upload (docs/benchmarks.md, "fourth round").
 */
export function takeSqliteWorker(): SqliteWorker {
  return takeWorker();
}

/** Gives a worker from takeSqliteWorker back to the pool (kept for IDLE_MS); a stopped one is dropped. */
export function releaseSqliteWorker(worker: SqliteWorker): void {
  keepIdle(worker);
}

/** Runs one task on a worker thread (an idle one, or a new one). Rejects with what the task throws, or when the worker stops. */
export async function runOffThread<T extends SqliteTask>(task: T): Promise<SqliteTaskResult<T>> {
  const worker = takeWorker();
  try {
    return await worker.run(task);
  } finally {
    keepIdle(worker);
  }
}

/** A SQLite worker waiting to check one file (see startSqliteChecker). */
export interface SqliteChecker {
  /** Resolves once SQLite is loaded on the worker. Never rejects. */
  readonly ready: Promise<void>;
  /** SQLite's verdict on `file`. Never rejects: an unopenable file, or a worker that failed, is `ok: false` with the message. */
  check(file: string, pragma?: IntegrityPragma, limit?: number): Promise<CheckOutcome>;
  /** Ends the checker: an idle worker goes back to the pool (runOffThread's) for IDLE_MS, one still checking is stopped. Never throws. */
  dispose(): void;
}

/** Starts a SQLite worker for one integrity_check or quick_check, with the file mapped into memory (see ReadOnlyOptions.mmapBytes). Never throws. */
export function startSqliteChecker(): SqliteChecker {
  // An idle worker of the pool when there is one: a drill right after a backup or another drill
  // starts no thread (0.1 s of CPU from the bundle, 0.6 s through tsx: most of what bench:restore's
  // drill did beyond its baseline at load 11).
  const worker = takeWorker();
  let running = 0;
  let disposed = false;
  return {
    ready: worker.ready,
    check: (file, pragma = "integrity_check", limit = 20) => {
      running++;
      return worker
        .run({ kind: "check", file, pragma, limit, mmapBytes: 1 << 30 })
        .catch((err: unknown) => ({ ok: false, messages: [(err as Error).message] }))
        .finally(() => running--);
    },
    dispose: () => {
      if (disposed) return;
      disposed = true;
      // A worker still checking is stopped; an idle one goes back to the pool.
      if (running) worker.dispose();
      else keepIdle(worker);
    },
  };
}
