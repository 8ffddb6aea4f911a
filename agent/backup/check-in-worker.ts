import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { checkSnapshot, SnapshotError, type CheckedSnapshot, type SnapshotFailure } from "./snapshot";

/**
 * checkSnapshot on a worker thread (check-worker.ts): resolves with the same result, rejects with
 * the same SnapshotError. Falls back to the calling thread when no worker can be started. From the
 * bundle (agent/dist) the worker is the bundled check-worker.js; from the sources, the .ts through tsx.
 */
export function checkSnapshotInWorker(snapshotPath: string, sourcePath: string): { done: Promise<CheckedSnapshot>; cancel(): void } {
  const fromSources = import.meta.url.endsWith(".ts");
  const bundled = fileURLToPath(new URL("./check-worker.js", import.meta.url));
  let worker: Worker;
  try {
    if (fromSources) {
      // A worker does not inherit `--import tsx`: register it there, then load the entry.
      const entry = new URL("./check-worker.ts", import.meta.url).href;
      worker = new Worker(`import("tsx/esm/api").then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`, { eval: true, workerData: { snapshotPath, sourcePath } });
    } else if (existsSync(bundled)) {
      worker = new Worker(bundled, { workerData: { snapshotPath, sourcePath } });
    } else throw new Error("no worker entry");
  } catch {
    return { done: Promise.resolve().then(() => checkSnapshot(snapshotPath, sourcePath)), cancel() {} };
  }
  const done = new Promise<CheckedSnapshot>((resolve, reject) => {
    worker.once("message", (m: { ok: true; result: CheckedSnapshot } | { ok: false; error: { name: string; message: string; failure: SnapshotFailure } }) => {
      if (m.ok) resolve(m.result);
      else reject(m.error.name === "SnapshotError" ? new SnapshotError(m.error.message, m.error.failure) : new Error(m.error.message));
    });
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`the integrity check stopped unexpectedly (worker exit ${code})`)));
  });
  return { done, cancel: () => void worker.terminate() };
}
