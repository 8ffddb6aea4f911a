import { describe, it, expect, beforeAll, afterAll, afterEach } from "vitest";
import { execFileSync } from "node:child_process";
import {
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  readlinkSync,
  renameSync,
  writeFileSync,
  copyFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import pino from "pino";
import { startEmbeddedS3, type EmbeddedS3 } from "../../lib/storage/embedded-s3";
import { S3BackupStore } from "../../lib/storage";
import { listAll } from "../../lib/storage/backup-store";
import { runProcess } from "../../lib/process";
import { RestoreRecord, RestoreStarted } from "../../lib/contracts/agent-restore";
import type { RecoveryReport } from "../../lib/contracts/agent-recovery";
import { Job } from "../../lib/contracts/agent-jobs";
import { lifeboatObjectNames } from "../../lib/contracts/backup-names";
import type { BackupResult } from "../../lib/contracts/agent-backup";
import { loadAgentConfig } from "../config";
import { makeDeps } from "../deps";
import type { AgentDeps } from "../module";
import { buildAgentApp } from "../server";
import { openKineDb } from "../kine/schema";
import { KineSimulator } from "../kine/simulator";
import { startRecoveryJob } from "../recovery/ladder";
import { plantHotJournal, zeroBytes } from "../testing/corrupt";
import {
  agentEnvFor,
  gpgEncrypt,
  hasMarker,
  integrity,
  makeTestServer,
  maxRevision,
  runK3s,
  treeState,
  runDrill,
  waitFor,
  type TestServer,
} from "../testing/restore-fixtures";
import { startRestore, confirmRestore, getRestore } from "./runner";
import { TOKEN_MISMATCH } from "./verify";

/**
 * Restores against a fake k3s (a real kine-like writer process, stopped and started by the configured
 * commands), from every kind of source: a Lifeboat backup made by the backup pipeline, the seed job's
 * archives made with the real tar | zstd | gpg -c and sqlite3 .backup, and a salvaged database.
 * Afterwards the database is the restored one, no stale WAL, owner and mode as configured (1000:1000,
 * from files owned by 1234:1234). Bad input fails at staging with nothing changed.
 */

const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(ROOT, "agent/bin/lifeboat-agent.js");
const KEY = "restore-test-key";
const SECRET = "restore-test-secret-Qw3";
const PASSPHRASE = "restore drill passphrase";
const OWNER = { uid: 1000, gid: 1000 };
const OTHER = { uid: 1234, gid: 1234 };
const SEED_STAMP = "2024-12-18_00-00-00";

let s3: EmbeddedS3;
let work: string;
let passFile: string;
let wrongPassFile: string;
let source: TestServer;
let lifeboat: BackupResult;
/** The same cluster's set in the two-copy layout written before issue 15. */
let twoCopy: BackupResult;
const running: TestServer[] = [];
let n = 0;

const silent = () => pino.destination("/dev/null");
const s3Env = () => ({ AWS_S3_ENDPOINT: s3.endpoint, AWS_S3_BUCKET: "backups", AWS_S3_PATH: "sets", AWS_ACCESS_KEY_ID: KEY, AWS_SECRET_ACCESS_KEY: SECRET });
const store = () =>
  new S3BackupStore({ endpoint: s3.endpoint, bucket: "backups", prefix: "sets", accessKeyId: KEY, secretAccessKey: SECRET, region: "us-east-1" });
const depsFor = (server: TestServer, extra: Record<string, string> = {}): AgentDeps =>
  makeDeps(loadAgentConfig({ ...agentEnvFor(server), ...s3Env(), LIFEBOAT_PASSPHRASE_FILE: passFile, LIFEBOAT_OWNER: `${OWNER.uid}:${OWNER.gid}`, ...extra }), {
    logDestination: silent(),
  });

/** A target server with its own database and marker, files owned by 1234:1234, k3s running. */
function target(opts: { sameTokenAsSource?: boolean; start?: boolean } = {}): TestServer {
  const t = makeTestServer(path.join(work, `target-${++n}`), {
    seed: 100 + n,
    marker: `marker-T${n}`,
    owner: OTHER,
    token: opts.sameTokenAsSource ? source.token : undefined,
  });
  if (opts.start !== false) {
    runK3s(t, "start");
    running.push(t);
  }
  return t;
}

const stat = (p: string) => {
  const s = statSync(p);
  return { uid: s.uid, gid: s.gid, mode: (s.mode & 0o777).toString(8) };
};

/** What a finished restore must leave: the restored database (marker), owner/mode, k3s writing, the old db aside. */
function expectRestored(t: TestServer, rec: RestoreRecord, restoredMarker: string): void {
  expect(rec.status, rec.error ?? "").toBe("succeeded");
  expect(hasMarker(t.dbPath, restoredMarker)).toBe(true);
  expect(hasMarker(t.dbPath, t.marker)).toBe(false);
  expect(integrity(t.dbPath)).toBe("ok");
  expect(stat(path.dirname(t.dbPath))).toEqual({ ...OWNER, mode: "700" });
  for (const f of readdirSync(path.dirname(t.dbPath))) expect({ f, ...stat(path.join(path.dirname(t.dbPath), f)) }).toEqual({ f, ...OWNER, mode: "600" });
  expect(stat(path.join(t.serverDir, "token"))).toEqual({ ...OWNER, mode: "600" });
  expect(rec.after).toMatchObject({ quickCheck: { ok: true }, ownershipOk: true, k3sState: "active", noStaleWal: true });
  // The previous database is kept, whole, beside it.
  expect(rec.asideDir).toMatch(/db\.before-restore-\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}/);
  expect(hasMarker(path.join(rec.asideDir!, "state.db"), t.marker)).toBe(true);
  expect(integrity(path.join(rec.asideDir!, "state.db"))).toBe("ok");
  expect(runK3s(t, "status")).toBe("active");
}

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-restore-"));
  s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["backups"], accessKeyId: KEY, secretAccessKey: SECRET });
  passFile = path.join(work, "passphrase");
  writeFileSync(passFile, PASSPHRASE + "\n", { mode: 0o400 });
  wrongPassFile = path.join(work, "wrong-passphrase");
  writeFileSync(wrongPassFile, "not the passphrase\n", { mode: 0o400 });

  // The cluster whose backups are restored: a Lifeboat set from the backup pipeline (issue 3)...
  source = makeTestServer(path.join(work, "source"), { seed: 21, marker: "marker-A" });
  const { startBackupJob } = await import("../backup/run-backup");
  const job = await startBackupJob(depsFor(source), { retention: false, allowNewPassphrase: true }, "cli").done;
  expect(job.state, job.error ?? "").toBe("succeeded");
  lifeboat = job.result as BackupResult;
  const older = await startBackupJob(depsFor(source), { retention: false, allowNewPassphrase: false, layout: "two-copies" }, "cli").done;
  expect(older.state, older.error ?? "").toBe("succeeded");
  twoCopy = older.result as BackupResult;
  expect(Object.keys(lifeboat.keys).sort()).toEqual(["logical", "manifest", "secrets"]);
  expect(Object.keys(twoCopy.keys).sort()).toEqual(["files", "logical", "manifest", "token"]);

  // ...and the seed CronJob's two archives, taken while a write sits in the WAL only (marker-W).
  const db = openKineDb(source.dbPath);
  db.pragma("wal_autocheckpoint = 0");
  new KineSimulator(db, { seed: 9 }).put("/registry/configmaps/lifeboat-test/marker-W", Buffer.from("k8s\u0000in the WAL"));
  const seedDir = path.join(work, "seed");
  mkdirSync(seedDir);
  const gnupg = path.join(work, "gnupg");
  expect(statSync(`${source.dbPath}-wal`).size).toBeGreaterThan(0);
  execFileSync("sh", ["-c", `tar -cf - -C ${JSON.stringify(path.dirname(source.dbPath))} . | zstd -q -o ${seedDir}/k3s_db.tar.zst`]);
  execFileSync("sqlite3", [source.dbPath, `.backup '${seedDir}/state.db'`]);
  db.close();
  expect(execFileSync("tar", ["-tf", path.join(seedDir, "k3s_db.tar.zst"), "--zstd"]).toString()).toContain("./state.db-wal");
  gpgEncrypt(path.join(seedDir, "k3s_db.tar.zst"), path.join(seedDir, `k3s_db_${SEED_STAMP}.tar.zst.gpg`), passFile, gnupg);
  gpgEncrypt(path.join(seedDir, "state.db"), path.join(seedDir, `state_${SEED_STAMP}.db.gpg`), passFile, gnupg);
  for (const name of [`k3s_db_${SEED_STAMP}.tar.zst.gpg`, `state_${SEED_STAMP}.db.gpg`]) await store().put(name, createReadStream(path.join(seedDir, name)));
}, 180_000);

afterEach(() => {
  for (const t of running.splice(0)) runK3s(t, "stop");
});
afterAll(async () => {
  await s3?.stop();
  rmSync(work, { recursive: true, force: true });
});

async function http(base: string, method: string, p: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(base + p, {
    method,
    headers: { authorization: "Bearer restore-test-agent-token-0123456789", "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}
async function waitJob(base: string, id: string): Promise<Job> {
  return waitFor(
    async () => {
      const j = Job.parse((await http(base, "GET", `/jobs/${id}`)).json);
      return j.state === "running" ? undefined : j;
    },
    120_000,
    `job ${id}`,
  );
}

describe("restore from a Lifeboat backup through the HTTP API (the wizard's path)", () => {
  it("stages and verifies, waits for confirmation, swaps, fixes owner and mode, restarts k3s; then rolls back", async () => {
    const t = target();
    const app = buildAgentApp(depsFor(t, { LIFEBOAT_AGENT_TOKEN: "restore-test-agent-token-0123456789" }));
    const { url } = await app.listen(0, "127.0.0.1");
    try {
      const before = treeState(t.serverDir, { skipDbContent: true });
      const started = await http(url, "POST", "/restores", { source: { kind: "backup", setId: lifeboat.setId } });
      expect(started.status).toBe(202);
      const { restoreId, jobId } = RestoreStarted.parse(started.json);
      const staged = await waitJob(url, jobId);
      expect(staged.state, staged.error ?? "").toBe("succeeded");
      expect(staged.steps.map((s) => s.state)).toEqual(["done", "done", "skipped", "skipped", "skipped", "skipped", "skipped"]);
      expect(staged.bytesTotal).toBeGreaterThan(0);

      const waiting = RestoreRecord.parse((await http(url, "GET", `/restores/${restoreId}`)).json);
      expect(waiting).toMatchObject({
        status: "awaiting-confirmation",
        canConfirm: true,
        canCancel: true,
        canRollback: false,
        targetState: "Nothing on the server changed.",
      });
      expect(waiting.sourceDescription).toContain(lifeboat.keys.logical);
      expect(waiting.verification).toMatchObject({
        integrity: { ok: true },
        looksLikeKine: true,
        token: { source: "archive", fits: true },
        staged: { token: true },
      });
      // The preview: the live database has objects the backup lacks (its marker, among others).
      expect(waiting.diff!.byType.find((x) => x.type === "configmaps")!.examples).toContain(`lifeboat-test/${t.marker}`);
      expect(waiting.diff!.objectsLost).toBeGreaterThan(0);
      expect(waiting.diff!.summary).toMatch(
        /^Restoring this backup loses \d+ objects? created or changed after \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC: .*configmap/,
      );
      // Staging changed nothing on the server, and k3s kept running.
      expect(treeState(t.serverDir, { skipDbContent: true })).toEqual(before);
      expect(runK3s(t, "status")).toBe("active");

      // Confirming on the wrong node is refused.
      const wrongHost = await http(url, "POST", `/restores/${restoreId}/confirm`, { expectHost: "not-this-node" });
      expect(wrongHost.status).toBe(409);
      expect(wrongHost.json.message).toMatch(/refusing to restore the wrong node/);

      const confirmed = await http(url, "POST", `/restores/${restoreId}/confirm`, {});
      expect(confirmed.status).toBe(202);
      const swapped = await waitJob(url, confirmed.json.jobId);
      expect(swapped.state, swapped.error ?? "").toBe("succeeded");
      const done = RestoreRecord.parse((await http(url, "GET", `/restores/${restoreId}`)).json);
      expectRestored(t, done, "marker-A");
      expect(done.steps.every((s) => s.state === "done")).toBe(true);
      expect(readFileSync(path.join(t.serverDir, "token"), "utf8").trim()).toBe(source.token);
      // cred/ and tls/ were not chosen: the host's stay.
      expect(readFileSync(path.join(t.serverDir, "cred/passwd"), "utf8")).toContain(t.marker);
      expect(done).toMatchObject({ canRollback: true, canMarkDone: true });
      // k3s writes on the restored database.
      const rev = maxRevision(t.dbPath);
      await waitFor(() => (maxRevision(t.dbPath) > rev ? true : undefined), 20_000, "k3s to write");

      const rb = await http(url, "POST", `/restores/${restoreId}/rollback`);
      expect(rb.status).toBe(202);
      const rbJob = await waitJob(url, rb.json.jobId);
      expect(rbJob.state, rbJob.error ?? "").toBe("succeeded");
      const rolled = RestoreRecord.parse((await http(url, "GET", `/restores/${restoreId}`)).json);
      expect(rolled.status).toBe("rolled-back");
      expect(hasMarker(t.dbPath, t.marker)).toBe(true);
      expect(hasMarker(t.dbPath, "marker-A")).toBe(false);
      expect(readFileSync(path.join(t.serverDir, "token"), "utf8").trim()).toBe(t.token);
      const kept = readdirSync(t.serverDir).find((f) => f.startsWith("db.rolled-back-"))!;
      expect(hasMarker(path.join(t.serverDir, kept, "state.db"), "marker-A")).toBe(true);
      expect(stat(t.dbPath)).toEqual({ ...OWNER, mode: "600" });
      expect(runK3s(t, "status")).toBe("active");
      expect((await http(url, "POST", `/restores/${restoreId}/done`)).status).toBe(409);
    } finally {
      await app.close();
    }
  });
});

describe("both Lifeboat layouts in one bucket: one copy of the database (secrets archive beside it) and two copies (server archive)", () => {
  it.each([
    ["one-copy", () => lifeboat, "_state.db.zst.gpg"],
    ["two-copy", () => twoCopy, "_server.tar.zst.gpg"],
  ] as const)("a %s set restores the database, token, cred/ and tls/ alike", async (_layout, set, staged) => {
    const t = target();
    const deps = depsFor(t);
    const { restoreId, done } = await startRestore(deps, {
      source: { kind: "backup", setId: set().setId },
      dryRun: false,
      include: { token: true, cred: true, tls: true },
      confirm: true,
      compareWithLive: false,
    });
    await done;
    const rec = getRestore(deps, restoreId);
    expect(rec.sourceDescription).toContain(staged);
    expectRestored(t, rec, "marker-A");
    expect(rec.verification).toMatchObject({ token: { source: "archive", fits: true }, staged: { token: true, credFiles: 1, tlsFiles: 1 } });
    expect(readFileSync(path.join(t.serverDir, "token"), "utf8").trim()).toBe(source.token);
    expect(readFileSync(path.join(t.serverDir, "cred/passwd"), "utf8")).toContain("marker-A");
    expect(readFileSync(path.join(t.serverDir, "tls/server-ca.crt"), "utf8")).toContain("marker-A");
  });

  it("a stop of k3s slower than LIFEBOAT_JOB_STALL_SECONDS is the restore at work, not a stall", async () => {
    // systemd can take its TimeoutStopSec to stop a busy k3s. Reported as a stall, the restore ended
    // "failed, nothing changed" while k3s stayed stopped.
    const t = target({ sameTokenAsSource: true });
    const deps = depsFor(t, { LIFEBOAT_JOB_STALL_SECONDS: "2", LIFEBOAT_K3S_STOP_CMD: `sleep 4; ${agentEnvFor(t).LIFEBOAT_K3S_STOP_CMD}` });
    const { restoreId, done } = await startRestore(deps, {
      source: { kind: "backup", setId: lifeboat.setId },
      dryRun: false,
      include: { token: true, cred: false, tls: false },
      confirm: true,
      compareWithLive: false,
    });
    await done.catch(() => {});
    expectRestored(t, getRestore(deps, restoreId), "marker-A");
  });

  it("a secrets archive whose token file is empty: the host's token is checked and stays in place, and the restore says so", async () => {
    // A set as an older agent (or a hand-made archive) could leave it: the database archive, and a
    // secrets archive holding an empty token. The token put in place must be the one verified.
    const dir = path.join(work, "empty-token");
    mkdirSync(dir);
    writeFileSync(path.join(dir, "token"), "\n", { mode: 0o600 });
    execFileSync("sh", ["-c", `tar -cf - -C ${JSON.stringify(dir)} token | zstd -q -o ${JSON.stringify(path.join(dir, "secrets.tar.zst"))}`]);
    gpgEncrypt(path.join(dir, "secrets.tar.zst"), path.join(dir, "secrets.gpg"), passFile, path.join(work, "gnupg"));
    const keys = lifeboatObjectNames(new Date("2030-06-01T00:00:00Z"));
    const logical: Buffer[] = [];
    for await (const c of await store().get(lifeboat.keys.logical)) logical.push(c as Buffer);
    await store().put(keys.logical, Readable.from([Buffer.concat(logical)]));
    await store().put(keys.secrets, createReadStream(path.join(dir, "secrets.gpg")));

    const t = target({ sameTokenAsSource: true });
    const tokenFile = path.join(t.serverDir, "token");
    const before = readFileSync(tokenFile, "utf8");
    const deps = depsFor(t);
    const { restoreId, done } = await startRestore(deps, {
      source: { kind: "object", key: keys.logical },
      dryRun: false,
      include: { token: true, cred: false, tls: false },
      confirm: true,
      compareWithLive: false,
    });
    await done;
    const rec = getRestore(deps, restoreId);
    expectRestored(t, rec, "marker-A");
    expect(rec.verification?.token).toMatchObject({ source: "host", fits: true });
    expect(rec.verification?.warnings).toContain(`The backup's token file is empty; the host's token (${tokenFile}) is checked and kept instead.`);
    expect(readFileSync(tokenFile, "utf8")).toBe(before);
  });

  it("a drill of the one-copy set's state.db archive alone takes the secrets archive beside it", async () => {
    const t = target();
    const { job, record } = await runDrill(depsFor(t), { kind: "object", key: lifeboat.keys.logical });
    expect(job.state, job.error ?? "").toBe("succeeded");
    expect(record.verification).toMatchObject({ token: { source: "archive", fits: true } });
  });
});

describe("restore from the seed CronJob's archives (real tar, zstd, gpg -c, sqlite3 .backup)", () => {
  it("the file archive (a live copy with its WAL), by the CLI with --yes: the WAL is replayed, nothing stale is left", async () => {
    const t = target({ sameTokenAsSource: true });
    const env = {
      PATH: process.env.PATH!,
      HOME: process.env.HOME ?? "/root",
      ...agentEnvFor(t),
      ...s3Env(),
      LIFEBOAT_PASSPHRASE_FILE: passFile,
      LIFEBOAT_OWNER: `${OWNER.uid}:${OWNER.gid}`,
    };
    const run = await runProcess(process.execPath, [BIN, "restore", `k3s_db_${SEED_STAMP}.tar.zst.gpg`, "--yes"], { env: env as unknown as NodeJS.ProcessEnv });
    expect(run.code, run.stderr).toBe(0);
    for (const secret of [PASSPHRASE, SECRET, source.token]) expect(run.stdout + run.stderr).not.toContain(secret);
    const rec = RestoreRecord.parse(JSON.parse(run.stdout));
    expectRestored(t, rec, "marker-A");
    expect(hasMarker(t.dbPath, "marker-W")).toBe(true); // only in the archived WAL
    expect(rec.verification).toMatchObject({ walReplayed: true, token: { source: "host", fits: true } });
    expect(run.stderr).toMatch(/Swap database: done/);
  });

  it("the logical backup (state_<ts>.db.gpg), by set id, in one go", async () => {
    const t = target({ sameTokenAsSource: true });
    const deps = depsFor(t);
    const { restoreId, done } = await startRestore(deps, {
      source: { kind: "backup", setId: `seed-${SEED_STAMP}` },
      dryRun: false,
      include: { token: true, cred: false, tls: false },
      confirm: true,
      compareWithLive: true,
    });
    await done;
    const rec = getRestore(deps, restoreId);
    expect(rec.sourceDescription).toContain(`state_${SEED_STAMP}.db.gpg`);
    expectRestored(t, rec, "marker-A");
    expect(hasMarker(t.dbPath, "marker-W")).toBe(true); // .backup reads through the WAL
    expect(rec.verification?.walReplayed).toBe(false);
  });

  it("refuses a datastore the host's token cannot open (k3s would not start), changing nothing", async () => {
    const t = target(); // its own token: not the one that encrypted the backup's bootstrap data
    const before = treeState(t.serverDir, { skipDbContent: true });
    const deps = depsFor(t);
    const { restoreId, done } = await startRestore(deps, {
      source: { kind: "backup", setId: `seed-${SEED_STAMP}` },
      dryRun: false,
      include: { token: true, cred: false, tls: false },
      confirm: true,
      compareWithLive: false,
    });
    const job = await done;
    expect(job.state).toBe("failed");
    expect(job.error).toContain(TOKEN_MISMATCH);
    const rec = getRestore(deps, restoreId);
    expect(rec).toMatchObject({ status: "failed", targetState: "Nothing on the server changed.", canConfirm: false });
    expect(rec.verification?.token).toMatchObject({ source: "host", fits: false });
    expect(treeState(t.serverDir, { skipDbContent: true })).toEqual(before);
    expect(hasMarker(t.dbPath, t.marker)).toBe(true);
    expect(runK3s(t, "status")).toBe("active");
  });
});

describe("restore from a database file with its WAL beside it (a copy of db/ taken after k3s died)", () => {
  it("stages the WAL with the database, so commits only the WAL holds are replayed, not lost", async () => {
    // The copy: state.db and a state.db-wal holding a commit never checkpointed into state.db.
    const copy = path.join(work, "db.damaged");
    mkdirSync(copy);
    const live = path.join(work, "died", "state.db");
    mkdirSync(path.dirname(live));
    execFileSync("sqlite3", [source.dbPath, `.backup '${live}'`]);
    const db = openKineDb(live);
    try {
      db.pragma("wal_autocheckpoint = 0");
      new KineSimulator(db, { seed: 9 }).put("/registry/configmaps/lifeboat-test/marker-only-in-wal", Buffer.from("k8s\u0000only in the WAL"));
      // Copied while the connection is open: closing it would checkpoint the WAL into the database.
      copyFileSync(live, path.join(copy, "state.db"));
      copyFileSync(live + "-wal", path.join(copy, "state.db-wal"));
    } finally {
      db.close();
    }
    expect(statSync(path.join(copy, "state.db-wal")).size).toBeGreaterThan(0);
    const t = target({ sameTokenAsSource: true });
    const deps = depsFor(t);
    const { restoreId, done } = await startRestore(deps, {
      source: { kind: "file", path: path.join(copy, "state.db") },
      dryRun: false,
      include: { token: false, cred: false, tls: false },
      confirm: true,
      compareWithLive: false,
    });
    await done;
    const rec = getRestore(deps, restoreId);
    expectRestored(t, rec, "marker-A");
    expect(rec.sourceDescription).toBe(`database file ${path.join(copy, "state.db")} with its state.db-wal`);
    expect(rec.verification?.walReplayed).toBe(true);
    expect(hasMarker(t.dbPath, "marker-only-in-wal")).toBe(true);
    // The copy is read, never changed.
    expect(statSync(path.join(copy, "state.db-wal")).size).toBeGreaterThan(0);
  });
});

describe("restore onto a server whose db/ is a symlink to another disk", () => {
  it("warns before the confirmation where the restored db/ goes, and leaves the linked database untouched", async () => {
    const t = target({ sameTokenAsSource: true, start: false });
    const ssd = path.join(work, `ssd-${n}`);
    mkdirSync(ssd);
    renameSync(path.join(t.serverDir, "db"), path.join(ssd, "db"));
    symlinkSync(path.join(ssd, "db"), path.join(t.serverDir, "db"));
    runK3s(t, "start");
    running.push(t);
    const deps = depsFor(t);
    const { restoreId, done } = await startRestore(deps, {
      source: { kind: "file", path: source.dbPath },
      dryRun: false,
      include: { token: false, cred: false, tls: false },
      confirm: false,
      compareWithLive: false,
    });
    await done;
    const staged = getRestore(deps, restoreId);
    expect(staged.status, staged.error ?? "").toBe("awaiting-confirmation");
    expect(staged.verification?.warnings.join("\n")).toContain(
      `${path.join(t.serverDir, "db")} is a link to ${path.join(ssd, "db")}. The restore moves the link aside (the database it points at stays there, untouched) and puts the restored db/ in ${t.serverDir}`,
    );
    await confirmRestore(deps, restoreId).done;
    const rec = getRestore(deps, restoreId);
    expect(rec.status, rec.error ?? "").toBe("succeeded");
    expect(hasMarker(t.dbPath, "marker-A")).toBe(true);
    expect(hasMarker(path.join(ssd, "db", "state.db"), t.marker)).toBe(true);
    expect(readlinkSync(rec.asideDir!)).toBe(path.join(ssd, "db"));
  });
});

describe("restore from a database file that is a symlink, its WAL beside the file it points at", () => {
  it("stages the WAL SQLite keeps beside the real file (it names it after the resolved path)", async () => {
    const real = path.join(work, "ssd", "state.db");
    mkdirSync(path.dirname(real));
    execFileSync("sqlite3", [source.dbPath, `.backup '${real}.tmp'`]);
    const db = openKineDb(`${real}.tmp`);
    try {
      db.pragma("wal_autocheckpoint = 0");
      new KineSimulator(db, { seed: 9 }).put("/registry/configmaps/lifeboat-test/marker-only-in-linked-wal", Buffer.from("k8s\u0000only in the WAL"));
      // Copied while the connection is open: closing it would checkpoint the WAL into the database.
      copyFileSync(`${real}.tmp`, real);
      copyFileSync(`${real}.tmp-wal`, `${real}-wal`);
    } finally {
      db.close();
    }
    const link = path.join(work, "linked", "state.db");
    mkdirSync(path.dirname(link));
    symlinkSync(real, link);
    const t = target({ sameTokenAsSource: true });
    const deps = depsFor(t);
    const { restoreId, done } = await startRestore(deps, {
      source: { kind: "file", path: link },
      dryRun: false,
      include: { token: false, cred: false, tls: false },
      confirm: true,
      compareWithLive: false,
    });
    await done;
    const rec = getRestore(deps, restoreId);
    expectRestored(t, rec, "marker-A");
    expect(rec.verification?.walReplayed).toBe(true);
    expect(hasMarker(t.dbPath, "marker-only-in-linked-wal")).toBe(true);
  });
});

describe("restore from a database file with a hot rollback journal beside it (a write that never committed)", () => {
  it("stages the journal with the database, so SQLite rolls the torn write back, as it would on the host", async () => {
    const copy = path.join(work, "db.rollback-mode");
    mkdirSync(copy);
    const file = path.join(copy, "state.db");
    execFileSync("sqlite3", [source.dbPath, `.backup '${file}'`]);
    const revision = maxRevision(file);
    // The file alone is torn mid-transaction; only its journal holds the pages as they were.
    expect(plantHotJournal(file)).toBeGreaterThan(0);
    const t = target({ sameTokenAsSource: true });
    const deps = depsFor(t);
    const { restoreId, done } = await startRestore(deps, {
      source: { kind: "file", path: file },
      dryRun: false,
      include: { token: false, cred: false, tls: false },
      confirm: true,
      compareWithLive: false,
    });
    await done;
    const rec = getRestore(deps, restoreId);
    expectRestored(t, rec, "marker-A");
    expect(rec.sourceDescription).toBe(`database file ${file} with its state.db-journal`);
    expect(maxRevision(t.dbPath)).toBeGreaterThanOrEqual(revision);
    // The copy is read, never changed: its journal is still there.
    expect(statSync(`${file}-journal`).size).toBeGreaterThan(0);
  });
});

describe("restore from a salvaged database, and the recovery's comparison with the newest backup", () => {
  it("recovers a database whose header was wiped and restores the salvage result", async () => {
    const t = target({ start: false });
    const rows = maxRevision(t.dbPath);
    zeroBytes(t.dbPath, 0, 100);
    const deps = depsFor(t);
    const rec = await startRecoveryJob(deps, { compareWith: "none" }).done;
    expect(rec.state, rec.error ?? "").toBe("succeeded");
    const report = rec.result as RecoveryReport;
    expect(report.best?.rung).toBe("salvage");
    const { restoreId, done } = await startRestore(deps, {
      source: { kind: "recovery", id: report.id },
      dryRun: false,
      include: { token: true, cred: false, tls: false },
      confirm: true,
      compareWithLive: true,
    });
    running.push(t);
    await done;
    const r = getRestore(deps, restoreId);
    expect(r.status, r.error ?? "").toBe("succeeded");
    expect(r.diffError).toMatch(/live database could not be read/);
    expect(hasMarker(t.dbPath, t.marker)).toBe(true);
    expect(maxRevision(t.dbPath)).toBeGreaterThanOrEqual(rows);
    expect(integrity(t.dbPath)).toBe("ok");
    expect(r.after).toMatchObject({ quickCheck: { ok: true }, ownershipOk: true, k3sState: "active" });
    expect(stat(t.dbPath)).toEqual({ ...OWNER, mode: "600" });
    // The damaged database is kept aside, byte for byte.
    expect(
      readFileSync(path.join(r.asideDir!, "state.db"))
        .subarray(0, 100)
        .every((b) => b === 0),
    ).toBe(true);
  });

  it("tells what the recovered database has that the newest Lifeboat backup lacks", async () => {
    const t = target({ start: false, sameTokenAsSource: true });
    // This server's database is the backed-up one plus three deployments created after the backup.
    copyFileSync(source.dbPath, t.dbPath);
    rmSync(`${t.dbPath}-wal`, { force: true });
    rmSync(`${t.dbPath}-shm`, { force: true });
    const db = openKineDb(t.dbPath);
    const sim = new KineSimulator(db, { seed: 77 });
    for (let i = 0; i < 3; i++) sim.put(`/registry/deployments/apps/new-after-backup-${i}`, Buffer.from(`k8s\u0000deployment ${i}`));
    db.pragma("wal_checkpoint(TRUNCATE)");
    db.pragma("journal_mode = DELETE");
    db.close();
    zeroBytes(t.dbPath, 0, 4096); // page 1 gone
    const rec = await startRecoveryJob(depsFor(t), { compareWith: "newest" }).done;
    expect(rec.state, rec.error ?? "").toBe("succeeded");
    const report = rec.result as RecoveryReport;
    expect(report.comparison.error).toBeNull();
    expect(report.comparison.backup).toContain(twoCopy.setId); // the newest set, in the two-copy layout
    const diff = report.comparison.diff!;
    const deployments = diff.byType.find((x) => x.type === "deployments")!;
    expect(deployments.onlyInCurrent).toBe(3);
    expect(deployments.examples).toEqual(expect.arrayContaining(["apps/new-after-backup-0", "apps/new-after-backup-2"]));
    expect(diff.summary).toMatch(/Choosing the backup over the recovered database loses \d+ objects created or changed after .*3 deployments/);
    expect(diff.revisionsOnlyInCurrent.count).toBeGreaterThanOrEqual(3);
    expect(report.recommendation).toMatch(/newer than the backup/);
    expect(report.recommendation).toContain(`restore recovery:${report.id}`);
  });
});

describe("bad input fails at staging with a clear error, and nothing changes", () => {
  async function expectNothingChanged(t: TestServer, deps: AgentDeps, source: Parameters<typeof startRestore>[1]["source"], message: RegExp): Promise<void> {
    const before = treeState(t.serverDir, { skipDbContent: true });
    const { restoreId, done } = await startRestore(deps, {
      source,
      dryRun: false,
      include: { token: true, cred: false, tls: false },
      confirm: true,
      compareWithLive: false,
    });
    const job = await done;
    expect(job.state).toBe("failed");
    expect(job.error).toMatch(message);
    expect(job.error).toMatch(/Nothing on the server changed\.$/);
    expect(job.steps.find((s) => s.name === "stage")?.state).toBe("failed");
    for (const secret of [PASSPHRASE, SECRET]) expect(job.error).not.toContain(secret);
    const rec = getRestore(deps, restoreId);
    expect(rec).toMatchObject({ status: "failed", targetState: "Nothing on the server changed.", asideDir: null });
    expect(treeState(t.serverDir, { skipDbContent: true })).toEqual(before);
    expect(hasMarker(t.dbPath, t.marker)).toBe(true);
    expect(existsSync(path.join(deps.config.stateDir, "restores", restoreId, "staging"))).toBe(false);
    expect(runK3s(t, "status")).toBe("active");
  }

  it("a wrong passphrase", async () => {
    const t = target();
    await expectNothingChanged(
      t,
      depsFor(t, { LIFEBOAT_PASSPHRASE_FILE: wrongPassFile }),
      { kind: "backup", setId: lifeboat.setId },
      /The passphrase does not open .*LIFEBOAT_PASSPHRASE_FILE/,
    );
  });

  it("a truncated archive", async () => {
    const t = target();
    const whole = await collect(await store().get(twoCopy.keys.files!));
    const key = twoCopy.keys.files!.replace(/lifeboat_\d{4}/, "cut/lifeboat_2030");
    await store().put(key, Readable.from([whole.subarray(0, Math.floor(whole.length * 0.6))]));
    await expectNothingChanged(t, depsFor(t), { kind: "object", key }, /is damaged/);
  });

  it("a tampered archive (bytes changed in the middle)", async () => {
    const t = target();
    const whole = Buffer.from(await collect(await store().get(twoCopy.keys.files!)));
    for (let i = 0; i < 16; i++) whole[Math.floor(whole.length / 2) + i] ^= 0xa5;
    const key = twoCopy.keys.files!.replace(/lifeboat_\d{4}/, "tampered/lifeboat_2031");
    await store().put(key, Readable.from([whole]));
    await expectNothingChanged(t, depsFor(t), { kind: "object", key }, /is damaged/);
  });
});

describe("restore drill (dry run)", () => {
  /** A drill of the Lifeboat set with the token, compared with the live database (the dashboard's drill). */
  const startDrill = (deps: AgentDeps) =>
    startRestore(deps, {
      source: { kind: "backup", setId: lifeboat.setId },
      dryRun: true,
      include: { token: true, cred: false, tls: false },
      confirm: false,
      compareWithLive: true,
    });

  it("stages and verifies, reports what a restore would lose, and changes nothing", async () => {
    const t = target();
    const before = treeState(t.serverDir, { skipDbContent: true });
    const deps = depsFor(t);
    const { restoreId, done } = await startDrill(deps);
    const job = await done;
    expect(job.type).toBe("drill");
    expect(job.state, job.error ?? "").toBe("succeeded");
    const rec = getRestore(deps, restoreId);
    expect(rec).toMatchObject({ kind: "drill", status: "succeeded", canConfirm: false, canRollback: false, targetState: "Nothing on the server changed." });
    expect(rec.verification?.stats?.currentRevision).toBe(lifeboat.manifest.database.currentRevision);
    expect(rec.diff?.candidate.currentRevision).toBe(lifeboat.manifest.database.currentRevision);
    expect(treeState(t.serverDir, { skipDbContent: true })).toEqual(before);
    expect(existsSync(path.join(deps.config.stateDir, "restores", restoreId, "staging"))).toBe(false);
    expect(() => confirmRestore(deps, restoreId)).toThrow(/cannot be confirmed/);
  });

  it('"latest" is the newest complete set: a newer set missing its database is passed over', async () => {
    const newest = [lifeboat.setId, twoCopy.setId].sort().at(-1)!;
    const stray = "lifeboat_2099-01-01_00-00-00_manifest.json";
    await store().put(stray, Readable.from([Buffer.from("{}")]));
    try {
      const { job, record: rec } = await runDrill(depsFor(target()), { kind: "backup", setId: "latest" });
      expect(job.state, job.error ?? "").toBe("succeeded");
      expect(rec.sourceDescription).toContain(`backup set ${newest} (the newest complete one): `);
      expect(rec.verification?.token).toMatchObject({ source: "archive", fits: true });
    } finally {
      await store().delete(stray);
    }
  });

  it("\"latest\" is the store's own: a newer complete set in a folder below the store (another cluster's) is passed over", async () => {
    const newest = [lifeboat.setId, twoCopy.setId].sort().at(-1)!;
    const stamp = newest.replace(/^lifeboat-/, "");
    const copied: string[] = [];
    for (const o of await listKeys()) {
      if (!o.includes(stamp) || o.includes("/")) continue;
      const key = `cluster-b/${o.replace(stamp, "2099-01-01_00-00-00")}`;
      await store().put(key, await store().get(o));
      copied.push(key);
    }
    expect(copied.some((k) => k.endsWith("_manifest.json"))).toBe(true);
    try {
      const { job, record: rec } = await runDrill(depsFor(target()), { kind: "backup", setId: "latest" });
      expect(job.state, job.error ?? "").toBe("succeeded");
      expect(rec.sourceDescription).toContain(`backup set ${newest} (the newest complete one): `);
    } finally {
      for (const k of copied) await store().delete(k);
    }
  });

  it("its record says it ended only once the next job may start (the dashboard starts the next drill at once)", async () => {
    const t = target();
    const deps = depsFor(t);
    const { restoreId, done } = await startDrill(deps);
    // Asked every turn of the event loop, as fast as any client could: whenever the record says the
    // drill ended, no datastore job may still hold the agent (a client would be refused as busy).
    let ended = false;
    const seen: string[] = [];
    const finished = done.then(() => (ended = true));
    while (!ended) {
      const rec = getRestore(deps, restoreId);
      if (rec.status !== "running") seen.push(`${rec.status}, datastore job: ${deps.jobs.runningIn("datastore") ?? "none"}`);
      await new Promise((r) => setImmediate(r));
    }
    await finished;
    expect(seen.filter((x) => !x.endsWith("none"))).toEqual([]);
    const rec = getRestore(deps, restoreId);
    expect(rec.status, rec.error ?? "").toBe("succeeded");
  });
});

/** Every key in the test's store. */
async function listKeys(): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of listAll(store())) keys.push(o.key);
  return keys;
}

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}
