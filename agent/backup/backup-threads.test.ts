import { afterAll, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { loadAgentConfig } from "../config";
import { makeDeps } from "../deps";
import { idleSqliteWorkers, sqliteWorkersStarted } from "../sqlite/worker";
import { agentEnvFor, makeTestServer } from "../testing/restore-fixtures";
import { startBackupJob } from "./run-backup";

/**
 * A backup uses one SQLite worker thread: the one that copies the live database also checks the copy
 * (integrity_check and the statistics, beside the upload). A second worker for the check, started
 * while the first waited idle in the pool, held its own thread, V8 heap and malloc arena through the
 * whole upload: 13 MB of bench:backup's peak RSS (docs/benchmarks.md, "fourth round"). Its own file:
 * the pool is per process, so the count starts from no worker at all.
 */
const work = mkdtempSync(path.join(tmpdir(), "lifeboat-backup-threads-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

it("copies and checks the snapshot on one worker thread, and leaves it idle in the pool", async () => {
  const server = makeTestServer(path.join(work, "server"), { seed: 61, marker: "marker-threads" });
  mkdirSync(path.join(work, "store"));
  writeFileSync(path.join(work, "pass"), "threads passphrase\n");
  const deps = makeDeps(
    loadAgentConfig({ ...agentEnvFor(server), LIFEBOAT_BACKUP_DIR: path.join(work, "store"), LIFEBOAT_PASSPHRASE_FILE: path.join(work, "pass") }),
    { logDestination: pino.destination("/dev/null") },
  );
  expect(sqliteWorkersStarted()).toBe(0);
  const job = await startBackupJob(deps, { retention: false, allowNewPassphrase: false }, "cli").done;
  expect(job.state, job.error ?? "").toBe("succeeded");
  expect(job.steps.find((s) => s.name === "integrity")?.detail).toMatch(/integrity_check: ok/);
  expect(sqliteWorkersStarted()).toBe(1);
  expect(idleSqliteWorkers()).toBe(1);
});
