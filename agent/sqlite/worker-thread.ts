/**
 * Worker-thread entry of the SQLite worker (./worker.ts): loads SQLite and the tasks at once, says
 * it is ready, runs the one task it is sent and answers { ok: true, result } or { ok: false, error }.
 * build-agent.mjs bundles it as its own entry point (worker-thread.js).
 */
import { parentPort } from "node:worker_threads";
import { runSqliteTask, toTaskError, type SqliteTask } from "./tasks";

const port = parentPort!;
port.once("message", (task: SqliteTask) => {
  try {
    port.postMessage({ ok: true, result: runSqliteTask(task) });
  } catch (err) {
    port.postMessage({ ok: false, error: toTaskError(err) });
  } finally {
    port.close();
  }
});
port.postMessage({ ready: true });
