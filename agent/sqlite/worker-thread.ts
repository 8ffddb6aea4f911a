/**
 * Worker-thread entry of the SQLite worker (./worker.ts): loads SQLite and the tasks at once, says
 * it is ready, then runs each task it is sent (one at a time: the caller waits for the answer) and
 * answers { ok: true, result } or { ok: false, error }. It runs until it is terminated.
 * build-agent.mjs bundles it as its own entry point (worker-thread.js).
 */
import { parentPort } from "node:worker_threads";
import { runSqliteTask, toTaskError, type SqliteTask } from "./tasks";

const port = parentPort!;
port.on("message", (task: SqliteTask) => {
  runSqliteTask(task).then(
    (result) => port.postMessage({ ok: true, result }),
    (err: unknown) => port.postMessage({ ok: false, error: toTaskError(err) }),
  );
});
port.postMessage({ ready: true });
