/**
 * Worker-thread entry: PRAGMA integrity_check and kine statistics on a snapshot (checkSnapshot), so
 * they run on the second core while the main thread compresses, encrypts and uploads the same copy.
 * Input (workerData): { snapshotPath, sourcePath }. Output: one message, { ok: true, result } or
 * { ok: false, error: { name, message, failure } }.
 */
import { parentPort, workerData } from "node:worker_threads";
import { checkSnapshot } from "./snapshot";

const { snapshotPath, sourcePath } = workerData as { snapshotPath: string; sourcePath: string };
try {
  parentPort!.postMessage({ ok: true, result: checkSnapshot(snapshotPath, sourcePath) });
} catch (err) {
  const e = err as Error & { failure?: string };
  parentPort!.postMessage({ ok: false, error: { name: e.name, message: e.message, failure: e.failure ?? "other" } });
}
