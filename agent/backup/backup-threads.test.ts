import { afterAll, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
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

it("starts a backup's SQLite worker before the CLI is loaded, so the thread boots while the CLI and the S3 SDK load", () => {
  // A probe announces every worker thread the process starts. An unknown option ends the command as
  // soon as the CLI reads its arguments, before any backup step: the worker is there already for
  // `backup` (cli-entry.ts), and no other command starts one that early.
  const probe = path.join(work, "worker-probe.cjs");
  writeFileSync(
    probe,
    `const wt = require("node:worker_threads");
const Worker = wt.Worker;
wt.Worker = class extends Worker { constructor(...a) { process.stderr.write("probe: worker started\\n"); super(...a); } };
require("node:module").syncBuiltinESMExports();
`,
  );
  const run = (command: string) => {
    const r = spawnSync(process.execPath, ["--require", probe, path.resolve(import.meta.dirname, "../bin/lifeboat-agent.js"), command, "--no-such-option"], {
      encoding: "utf8",
      env: { ...process.env, NODE_OPTIONS: "" },
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/Unknown option --no-such-option/);
    return r.stderr.split("\n").filter((l) => l === "probe: worker started").length;
  };
  expect(run("backup")).toBe(1);
  expect(run("health")).toBe(0);
}, 120_000);
