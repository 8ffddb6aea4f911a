import { afterAll, beforeAll, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Readable } from "node:stream";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { loadAgentConfig } from "../config";
import { makeDeps } from "../deps";
import type { AgentDeps } from "../module";
import { agentEnvFor, makeTestServer } from "../testing/restore-fixtures";
import { StorageError } from "../../lib/storage/errors";
import type { BackupStore } from "../../lib/storage/backup-store";
import type { BackupResult } from "../../lib/contracts/agent-backup";
import { lifeboatObjectNames } from "../../lib/contracts/backup-names";
import { startBackupJob } from "./run-backup";
import { runRetention } from "./retention-run";
import { runDrill } from "../testing/drills";
import { listStoreSets } from "./sets";

/**
 * The retention step of a backup whose deletions the store refuses (a key without delete rights, an
 * object-locked bucket): the backup still succeeds, but its result must say retention failed, not
 * that it removed the old sets.
 */
const work = mkdtempSync(path.join(tmpdir(), "lifeboat-backup-retention-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let env: Record<string, string>;

beforeAll(() => {
  const server = makeTestServer(path.join(work, "server"), { seed: 63, marker: "marker-retention" });
  mkdirSync(path.join(work, "store"));
  writeFileSync(path.join(work, "pass"), "backup retention passphrase\n");
  env = {
    ...agentEnvFor(server),
    LIFEBOAT_BACKUP_DIR: path.join(work, "store"),
    LIFEBOAT_PASSPHRASE_FILE: path.join(work, "pass"),
    LIFEBOAT_KEEP_LAST: "1",
    LIFEBOAT_KEEP_DAILY: "0",
    LIFEBOAT_KEEP_WEEKLY: "0",
    LIFEBOAT_KEEP_MONTHLY: "0",
  };
});

it("a backup whose retention could not delete anything says so in retentionError", async () => {
  const deps: AgentDeps = makeDeps(loadAgentConfig(env), { logDestination: pino.destination("/dev/null") });
  const first = await startBackupJob(deps, { retention: false, allowNewPassphrase: false }, "cli").done;
  expect(first.state, first.error ?? "").toBe("succeeded");
  const real = deps.store();
  const refusing: BackupStore = {
    description: real.description,
    list: (o) => real.list(o),
    head: (k) => real.head(k),
    get: (k) => real.get(k),
    put: (k, b, o) => real.put(k, b, o),
    delete: (k) => Promise.reject(new StorageError(`s3: delete ${k} in ${real.description}: access denied (AccessDenied)`, "auth")),
  };
  await new Promise((r) => setTimeout(r, 1100)); // a set of its own second
  const second = await startBackupJob({ ...deps, store: () => refusing }, { retention: true, allowNewPassphrase: false }, "cli").done;
  expect(second.state, second.error ?? "").toBe("succeeded");
  const r = second.result as BackupResult;
  expect(r.retention?.summary.delete).toBe(1);
  expect(r.retention?.deleted).toEqual([]);
  expect(r.retentionError).toMatch(/Retention could not delete .*access denied/);
  expect((await listStoreSets(real)).sets).toHaveLength(2);
}, 60_000);

it("retention deletes nothing while a drill reads a set it would delete; the drill ends well and the set is still there", async () => {
  const deps: AgentDeps = makeDeps(loadAgentConfig(env), { logDestination: pino.destination("/dev/null") });
  const real = deps.store();
  const sets = (await listStoreSets(real)).sets;
  expect(sets.length).toBeGreaterThanOrEqual(2);
  const oldest = sets[sets.length - 1];
  // The drill's first read waits until retention has run.
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let reading!: () => void;
  const started = new Promise<void>((r) => (reading = r));
  const gated: BackupStore = {
    description: real.description,
    list: (o) => real.list(o),
    head: (k) => real.head(k),
    get: async (k) => {
      reading();
      await gate;
      return real.get(k);
    },
    put: (k, b, o) => real.put(k, b, o),
    delete: (k) => real.delete(k),
  };
  const drill = runDrill({ ...deps, store: () => gated }, { kind: "backup", setId: oldest.id });
  await started;
  const retention = await runRetention(real, deps.config.retention, { dryRun: false, stateDir: deps.config.stateDir }).then(
    (r) => r,
    (err: Error) => err,
  );
  open();
  const job = await drill;
  expect(job.state, job.error ?? "").toBe("succeeded");
  expect(retention).toBeInstanceOf(Error);
  expect((retention as Error).message).toMatch(/deleted nothing.*restore, drill or recovery/);
  expect((await listStoreSets(real)).sets.map((s) => s.id)).toContain(oldest.id);
  // Once the drill has ended, retention runs.
  const after = await runRetention(real, deps.config.retention, { dryRun: false, stateDir: deps.config.stateDir });
  expect(after.deleted.length).toBeGreaterThan(0);
}, 60_000);

it("a retention that deletes for longer than LIFEBOAT_JOB_STALL_SECONDS, object by object, is not a stalled (failed) backup", async () => {
  mkdirSync(path.join(work, "store-slow"));
  const deps: AgentDeps = makeDeps(loadAgentConfig({ ...env, LIFEBOAT_BACKUP_DIR: path.join(work, "store-slow"), LIFEBOAT_JOB_STALL_SECONDS: "2" }), {
    logDestination: pino.destination("/dev/null"),
  });
  const first = await startBackupJob(deps, { retention: false, allowNewPassphrase: false }, "cli").done;
  expect(first.state, first.error ?? "").toBe("succeeded");
  const real = deps.store();
  // Eight old sets (24 objects) for retention to delete, each deletion a slow round trip (0.3 s).
  for (let d = 1; d <= 8; d++)
    for (const k of Object.values(lifeboatObjectNames(new Date(Date.UTC(2020, 0, d))))) await real.put(k, Readable.from([Buffer.from("old")]));
  const slow: BackupStore = {
    description: real.description,
    list: (o) => real.list(o),
    head: (k) => real.head(k),
    get: (k) => real.get(k),
    put: (k, b, o) => real.put(k, b, o),
    delete: async (k) => {
      await new Promise((r) => setTimeout(r, 300));
      return real.delete(k);
    },
  };
  await new Promise((r) => setTimeout(r, 1100)); // a set of its own second
  const second = await startBackupJob({ ...deps, store: () => slow }, { retention: true, allowNewPassphrase: false }, "cli").done;
  expect(second.state, second.error ?? "").toBe("succeeded");
  const r = second.result as BackupResult;
  expect(r.retentionError).toBeNull();
  expect(r.retention?.deleted).toHaveLength(27); // the eight old sets and the first backup
  expect((await listStoreSets(real)).sets.map((s) => s.id)).toEqual([r.setId]);
}, 60_000);
