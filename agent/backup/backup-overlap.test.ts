import { afterAll, beforeAll, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { loadAgentConfig } from "../config";
import { makeDeps } from "../deps";
import type { AgentDeps } from "../module";
import { agentEnvFor, makeTestServer } from "../testing/restore-fixtures";
import { lifeboatObjectNames, parseSetId } from "../../lib/contracts/backup-names";
import { startBackupJob } from "./run-backup";
import { listStoreSets } from "./sets";
import { runProcess } from "../../lib/process";

/**
 * The backup takes its snapshot (worker thread) while the main thread lists the store and proves the
 * passphrase. So the set's name (its snapshot's second) is chosen before the listing is known, and a
 * wrong passphrase is found after the snapshot exists. Both must still end as before: a name already
 * in the store is never written over (the snapshot is taken again in a free second), and a wrong
 * passphrase uploads nothing and leaves no snapshot behind.
 */
const work = mkdtempSync(path.join(tmpdir(), "lifeboat-backup-overlap-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let env: Record<string, string>;
const depsWith = (extra: Record<string, string> = {}): AgentDeps =>
  makeDeps(loadAgentConfig({ ...env, ...extra }), { logDestination: pino.destination("/dev/null") });

beforeAll(() => {
  const server = makeTestServer(path.join(work, "server"), { seed: 62, marker: "marker-overlap" });
  mkdirSync(path.join(work, "store"));
  writeFileSync(path.join(work, "pass"), "overlap passphrase\n");
  env = { ...agentEnvFor(server), LIFEBOAT_BACKUP_DIR: path.join(work, "store"), LIFEBOAT_PASSPHRASE_FILE: path.join(work, "pass") };
});

it("a set already named after the snapshot's second is never written over: the snapshot is taken again in a free second", async () => {
  const deps = depsWith();
  const first = await startBackupJob(deps, { retention: false, allowNewPassphrase: false }, "cli").done;
  expect(first.state, first.error ?? "").toBe("succeeded");
  const firstId = (first.result as { setId: string }).setId;
  const store = deps.store();
  const firstNames = lifeboatObjectNames(parseSetId(firstId)!.time);
  // Copies of the first set under this second's name and the next two: the new backup starts inside them.
  const now = Math.floor(Date.now() / 1000) * 1000;
  const taken = [0, 1, 2].map((k) => lifeboatObjectNames(new Date(now + k * 1000)));
  const originals: Record<string, Buffer> = {};
  for (const kind of ["logical", "secrets", "manifest"] as const) {
    const bytes = Buffer.concat(await (await store.get(firstNames[kind])).toArray());
    for (const names of taken) {
      if (names[kind] === firstNames[kind]) continue;
      await store.put(names[kind], (await import("node:stream")).Readable.from([bytes]), { contentType: "application/octet-stream" });
      originals[names[kind]] = bytes;
    }
  }
  const second = await startBackupJob(deps, { retention: false, allowNewPassphrase: false }, "cli").done;
  expect(second.state, second.error ?? "").toBe("succeeded");
  const secondTime = parseSetId((second.result as { setId: string }).setId)!.time.getTime();
  expect(secondTime).toBeGreaterThanOrEqual(now + 3000);
  for (const [key, bytes] of Object.entries(originals)) expect(Buffer.concat(await (await store.get(key)).toArray()).equals(bytes), key).toBe(true);
  const sets = (await listStoreSets(store)).sets.filter((s) => s.format === "lifeboat");
  expect(sets.map((s) => s.id)).toContain((second.result as { setId: string }).setId);
  expect(readdirSync(path.join(env.LIFEBOAT_STATE_DIR, "snapshots"))).toEqual([]);
}, 30_000);

it("a wrong passphrase found while the snapshot runs: the backup fails, nothing is uploaded, no snapshot is left", async () => {
  writeFileSync(path.join(work, "typo"), "overlap passfrase\n");
  const deps = depsWith({ LIFEBOAT_PASSPHRASE_FILE: path.join(work, "typo") });
  const store = deps.store();
  const before = (await listStoreSets(store)).sets.map((s) => s.id);
  const job = await startBackupJob(deps, { retention: false, allowNewPassphrase: false }, "cli").done;
  expect(job.state).toBe("failed");
  expect(job.error).toMatch(/does not open the newest existing backup/);
  expect((await listStoreSets(store)).sets.map((s) => s.id)).toEqual(before);
  expect(readdirSync(path.join(env.LIFEBOAT_STATE_DIR, "snapshots"))).toEqual([]);
}, 30_000);

const BIN = path.resolve(import.meta.dirname, "../bin/lifeboat-agent.js");
const cliBackup = (storeDir: string) =>
  runProcess(process.execPath, [BIN, "backup", "--no-retention"], {
    env: {
      PATH: process.env.PATH!,
      HOME: process.env.HOME ?? "/root",
      ...env,
      LIFEBOAT_BACKUP_DIR: storeDir,
      LOG_LEVEL: "silent",
    } as unknown as NodeJS.ProcessEnv,
    timeoutMs: 120_000,
  });

it("backups of processes of their own at once (a timer's CLI beside the service's schedule): one runs, the others refuse; none reports a set another wrote over", async () => {
  const storeDir = path.join(work, "store-cli");
  mkdirSync(storeDir);
  const runs = await Promise.all([0, 1, 2].map(() => cliBackup(storeDir)));
  const ok = runs.filter((r) => r.code === 0).map((r) => (JSON.parse(r.stdout) as { setId: string }).setId);
  expect(ok.length).toBeGreaterThanOrEqual(1);
  // Before the lock, two or three of them succeeded with one set id: each one's objects overwritten by the next.
  expect(new Set(ok).size).toBe(ok.length);
  for (const r of runs.filter((x) => x.code !== 0)) {
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Another Lifeboat process \(pid \d+\) is taking a backup right now; wait for it to finish/);
  }
  expect((await listStoreSets(depsWith({ LIFEBOAT_BACKUP_DIR: storeDir }).store())).sets.map((x) => x.id).sort()).toEqual([...ok].sort());

  // A lock whose pid now names another, unrelated process (its holder was killed) is taken over.
  const lockFile = path.join(env.LIFEBOAT_STATE_DIR, "backup.lock");
  const other = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  try {
    await new Promise((r) => other.once("spawn", r));
    const stat = readFileSync(`/proc/${other.pid}/stat`, "utf8");
    const start = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    writeFileSync(lockFile, `${other.pid}\n${boot}/${start - 1}\n`);
    const after = await cliBackup(storeDir);
    expect(after.code, after.stderr).toBe(0);
    // A live holder keeps it: nothing is uploaded.
    writeFileSync(lockFile, `${other.pid}\n${boot}/${start}\n`);
    const before = readdirSync(storeDir).length;
    const refused = await cliBackup(storeDir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`Another Lifeboat process (pid ${other.pid}) is taking a backup right now`);
    expect(readdirSync(storeDir).length).toBe(before);
  } finally {
    other.kill("SIGKILL");
    rmSync(lockFile, { force: true });
  }
  expect(existsSync(lockFile)).toBe(false);
}, 240_000);
