import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chownSync, chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync, existsSync } from "node:fs";
import path from "node:path";
import { generateKineDb } from "../kine/generator";
import { openKineDb } from "../kine/schema";
import { KineSimulator } from "../kine/simulator";
import { simulatedK3sCommands } from "../demo/simulated-k3s";
import { openReadOnly, runCheck } from "../sqlite/check";
import type { RestoreSource, StartRestoreRequest } from "../../lib/contracts/agent-restore";
import type { AgentDeps } from "../module";

/**
 * Servers to restore onto, for the restore tests: a k3s-like server dir with a generated kine
 * database carrying a marker object (to tell databases apart after a swap), its token, cred/ and tls/,
 * and the simulated k3s commands (agent/demo/simulated-k3s.ts) that start a real writer process on it.
 */

export interface TestServer {
  root: string;
  serverDir: string;
  dbPath: string;
  token: string;
  marker: string;
  k3s: { start: string; stop: string; status: string };
}

/** A marker key only this database holds (a configmap created once and never changed). */
export function addMarker(dbPath: string, marker: string): void {
  const db = openKineDb(dbPath);
  try {
    const sim = new KineSimulator(db, { seed: 5 });
    sim.put(`/registry/configmaps/lifeboat-test/${marker}`, Buffer.from(`k8s\u0000marker ${marker}`));
    db.pragma("wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
}

/** Whether `dbPath` holds the marker (read-only; works while the fake k3s writes). */
export function hasMarker(dbPath: string, marker: string): boolean {
  const db = openReadOnly(dbPath, { busyTimeoutMs: 10_000 });
  try {
    return Boolean(db.prepare("SELECT 1 FROM kine WHERE name = ?").get(`/registry/configmaps/lifeboat-test/${marker}`));
  } finally {
    db.close();
  }
}

/** integrity_check's messages joined ("ok" when whole); works while the simulated k3s writes. Throws when SQLite cannot open or check it. */
export function integrity(dbPath: string): string {
  const db = openReadOnly(dbPath, { busyTimeoutMs: 10_000 });
  try {
    return runCheck(db, "integrity_check", 5).messages.join("; ");
  } finally {
    db.close();
  }
}

export function maxRevision(dbPath: string): number {
  const db = openReadOnly(dbPath, { busyTimeoutMs: 10_000 });
  try {
    return db.prepare("SELECT MAX(id) FROM kine").pluck().get() as number;
  } finally {
    db.close();
  }
}

/**
 * A server dir below `root`: db/state.db (WAL mode, like k3s), token, cred/, tls/, every file owned by
 * `owner` with loose modes (like the incident's pi:pi files) so a restore must fix them.
 */
export function makeTestServer(
  root: string,
  opts: { seed: number; token?: string; marker: string; owner?: { uid: number; gid: number }; targetBytes?: number; compaction?: "healthy" | "stuck" },
): TestServer {
  const serverDir = path.join(root, "server");
  mkdirSync(path.join(serverDir, "db"), { recursive: true, mode: 0o755 });
  const dbPath = path.join(serverDir, "db", "state.db");
  const g = generateKineDb(dbPath, {
    targetBytes: opts.targetBytes ?? 1_500_000,
    compaction: opts.compaction ?? "healthy",
    keepWal: true,
    seed: opts.seed,
    token: opts.token,
  });
  addMarker(dbPath, opts.marker);
  writeFileSync(path.join(serverDir, "token"), g.token + "\n", { mode: 0o644 });
  mkdirSync(path.join(serverDir, "cred"), { mode: 0o755 });
  writeFileSync(path.join(serverDir, "cred", "passwd"), `${opts.marker},admin\n`, { mode: 0o644 });
  mkdirSync(path.join(serverDir, "tls"), { mode: 0o755 });
  writeFileSync(path.join(serverDir, "tls", "server-ca.crt"), `cert of ${opts.marker}\n`, { mode: 0o644 });
  if (opts.owner) chownTree(serverDir, opts.owner);
  return { root, serverDir, dbPath, token: g.token, marker: opts.marker, k3s: simulatedK3sCommands(serverDir, { intervalMs: 100 }) };
}

function chownTree(p: string, owner: { uid: number; gid: number }): void {
  chownSync(p, owner.uid, owner.gid);
  if (lstatSync(p).isDirectory()) for (const n of readdirSync(p)) chownTree(path.join(p, n), owner);
  else chmodSync(p, 0o644);
}

/** The agent environment for a server (fake k3s, state dir beside it). */
export function agentEnvFor(server: TestServer, extra: Record<string, string> = {}): Record<string, string> {
  return {
    LIFEBOAT_K3S_SERVER_DIR: server.serverDir,
    LIFEBOAT_STATE_DIR: path.join(server.root, "lifeboat"),
    LIFEBOAT_K3S_START_CMD: server.k3s.start,
    LIFEBOAT_K3S_STOP_CMD: server.k3s.stop,
    LIFEBOAT_K3S_STATUS_CMD: server.k3s.status,
    LIFEBOAT_INTEGRITY_SCHEDULE: "off",
    LIFEBOAT_BACKUP_SCHEDULE: "off",
    LOG_LEVEL: "silent",
    ...extra,
  };
}

export function runK3s(server: TestServer, what: "start" | "stop" | "status"): string {
  try {
    return execFileSync("sh", ["-c", server.k3s[what]], { stdio: "pipe" }).toString().trim();
  } catch (err) {
    const e = err as { status: number; stdout?: Buffer; stderr?: Buffer };
    if (what === "status") return String(e.stdout ?? "").trim();
    throw new Error(`fake k3s ${what} failed: ${String(e.stderr ?? "")}`);
  }
}

/**
 * Every path below `dir` with its type, owner, mode and (for files) content hash: "nothing on the
 * server changed" compares two of these. Database files are left out while a writer runs on them.
 */
export function treeState(dir: string, opts: { skipDbContent?: boolean } = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string) => {
    const st = lstatSync(p);
    const rel = path.relative(dir, p) || ".";
    const meta = `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}`;
    if (st.isDirectory()) {
      out[rel] = `dir ${meta}`;
      for (const n of readdirSync(p).sort()) walk(path.join(p, n));
    } else if (st.isSymbolicLink()) out[rel] = `link ${readlinkSync(p)}`;
    else if (opts.skipDbContent && /state\.db(-wal|-shm)?$/.test(p)) out[rel] = `file ${meta}`;
    else out[rel] = `file ${meta} ${createHash("sha256").update(readFileSync(p)).digest("hex")}`;
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/** A Lifeboat backup set in a directory store, and where it came from (see makeDirStoreSet). */
export interface DirStoreSet {
  backupDir: string;
  passFile: string;
  source: TestServer;
  setId: string;
}

/**
 * A Lifeboat set made by the backup pipeline from a fresh server (`marker`) into a directory store
 * (LIFEBOAT_BACKUP_DIR) below `work`, with its passphrase file. Throws when the backup fails.
 */
export async function makeDirStoreSet(work: string, opts: { seed: number; marker: string; passphrase: string }): Promise<DirStoreSet> {
  const passFile = path.join(work, "pass");
  writeFileSync(passFile, opts.passphrase + "\n", { mode: 0o400 });
  const backupDir = path.join(work, "backups");
  mkdirSync(backupDir);
  const source = makeTestServer(path.join(work, "source"), { seed: opts.seed, marker: opts.marker });
  // Loaded here, not at the top: the browser tests import this module too.
  const [{ loadAgentConfig }, { makeDeps }, { startBackupJob }, pino] = await Promise.all([
    import("../config"),
    import("../deps"),
    import("../backup/run-backup"),
    import("pino"),
  ]);
  const deps = makeDeps(loadAgentConfig({ ...agentEnvFor(source), LIFEBOAT_BACKUP_DIR: backupDir, LIFEBOAT_PASSPHRASE_FILE: passFile }), {
    logDestination: pino.default.destination("/dev/null"),
  });
  const job = await startBackupJob(deps, { retention: false, allowNewPassphrase: true }, "cli").done;
  if (job.state !== "succeeded") throw new Error(`the backup for the test set failed: ${job.error}`);
  return { backupDir, passFile, source, setId: (job.result as { setId: string }).setId };
}

/** `gpg -c --cipher-algo AES256` like the seed CronJob (GnuPG's default ZIP compression included). */
export function gpgEncrypt(input: string, output: string, passphraseFile: string, gnupgHome: string): void {
  mkdirSync(gnupgHome, { recursive: true, mode: 0o700 });
  execFileSync("gpg", ["--batch", "--yes", "--passphrase-file", passphraseFile, "--cipher-algo", "AES256", "-c", "-o", output, input], {
    env: { ...process.env, GNUPGHOME: gnupgHome },
    stdio: "pipe",
  });
}

/** Polls `fn` until it returns a value (not undefined) or `ms` passes. */
export async function waitFor<T>(fn: () => T | undefined | Promise<T | undefined>, ms = 60_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A drill of `source` (stage and verify; nothing on the server changes) with the backup's token, not
 * compared with the live database; `extra` adds to the request (a point: toRevision, toTime). Resolves
 * once it ended, with its job and its record.
 */
export async function runDrill(deps: AgentDeps, source: RestoreSource, extra: Partial<StartRestoreRequest> = {}) {
  const { startRestore, getRestore } = await import("../restore/runner");
  const { restoreId, done } = await startRestore(deps, {
    source,
    dryRun: true,
    include: { token: true, cred: false, tls: false },
    confirm: false,
    compareWithLive: false,
    ...extra,
  });
  const job = await done;
  return { job, record: getRestore(deps, restoreId) };
}
