import Database from "better-sqlite3";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import type { ChildProcess } from "node:child_process";
import type { AgentDeps } from "../module";
import { loadAgentConfig, type AgentConfig } from "../config";
import { makeDeps } from "../deps";
import { startEmbeddedS3, type EmbeddedS3 } from "../../lib/storage/embedded-s3";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { generationKey } from "../../lib/contracts/continuous";
import { makeTestServer, type TestServer } from "./restore-fixtures";
import { spawnKineWriter, type RunningKineWriter } from "./kine-writer-process";
import { planPoint, type PointTarget } from "../continuous/point-in-time";
import { stagePoint } from "../continuous/stage-point";
import { listAll, type BackupStore } from "../../lib/storage/backup-store";
import { parseSegmentKey, type SegmentName } from "../../lib/contracts/continuous";

/** Helpers for the continuous-protection tests and benchmark: the database as rows, and the log as the store holds it. */

/** Every kine row (values as hex with their SQLite type), sqlite_sequence, and compact_rev_key's revision. */
export function dumpKine(dbPath: string): { rows: string[]; sequence: number; compactRevision: number; revision: number } {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare(
        "SELECT id, name, created, deleted, create_revision, prev_revision, lease, typeof(value) || ':' || IFNULL(hex(value),''), typeof(old_value) || ':' || IFNULL(hex(old_value),'') FROM kine ORDER BY id",
      )
      .raw()
      .all()
      .map((r) => JSON.stringify(r));
    const sequence = (db.prepare("SELECT IFNULL(MAX(seq),0) FROM sqlite_sequence WHERE name = 'kine'").pluck().get() as number) ?? 0;
    const compactRevision = (db.prepare("SELECT IFNULL(MAX(prev_revision),0) FROM kine WHERE name = 'compact_rev_key'").pluck().get() as number) ?? 0;
    const revision = (db.prepare("SELECT IFNULL(MAX(id),0) FROM kine").pluck().get() as number) ?? 0;
    return { rows, sequence, compactRevision, revision };
  } finally {
    db.close();
  }
}

/** The database's schema (type, name, table, SQL of every table and index), by name: what a restore must keep as it was. */
export function schemaOf(dbPath: string): string[] {
  const db = new Database(dbPath, { readonly: true });
  try {
    return (db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").raw().all() as unknown[][]).map((r) => JSON.stringify(r));
  } finally {
    db.close();
  }
}

/**
 * Runs kine's compaction (KINE.md: dead versions and tombstones up to `rev`, then compact_rev_key)
 * on `dbPath`. A compaction that ran after the newest revision changed no revision, so the log has
 * nothing to ship for it: tests use this to compare a restore with a live copy taken after one.
 */
export function compactKine(dbPath: string, rev: number): void {
  const db = new Database(dbPath, { fileMustExist: true });
  try {
    db.transaction(() => {
      db.prepare(
        `DELETE FROM kine AS kv WHERE kv.id IN (
           SELECT kp.prev_revision AS id FROM kine AS kp WHERE kp.name != 'compact_rev_key' AND kp.prev_revision != 0 AND kp.id <= ?
           UNION SELECT kd.id AS id FROM kine AS kd WHERE kd.deleted != 0 AND kd.id <= ?)`,
      ).run(rev, rev);
      db.prepare("UPDATE kine SET prev_revision = ? WHERE name = 'compact_rev_key'").run(rev);
    })();
  } finally {
    db.close();
  }
}

/** A consistent copy of a live database (one-step backup: a writer may be paused, not stopped). */
export async function copyLive(dbPath: string, dest: string): Promise<void> {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    await db.backup(dest, { progress: () => 0x7fffffff });
  } finally {
    db.close();
  }
}

/** The store's segments, by revision. */
export async function storedSegments(store: BackupStore): Promise<(SegmentName & { size: number })[]> {
  const out: (SegmentName & { size: number })[] = [];
  for await (const o of listAll(store, { prefix: "lifeboat-log_" })) {
    const s = parseSegmentKey(o.key);
    if (s) out.push({ ...s, size: o.size });
  }
  return out.sort((a, b) => a.generation.localeCompare(b.generation) || a.first - b.first);
}

/** Where a generation's segments are not one unbroken run of revisions (gaps and overlaps), as sentences; empty when none. */
export function logProblems(segments: SegmentName[], from: number): string[] {
  const problems: string[] = [];
  let next = from + 1;
  for (const s of segments) {
    if (s.first !== next) problems.push(`${s.key}: starts at ${s.first}, expected ${next}`);
    next = s.last + 1;
  }
  return problems;
}

/** The environment of a `serve` on loopback shipping the log to a bucket "backups" of s3rver under `prefix` (plain HTTP, s3rver's keys). */
export function shippingServeEnv(endpoint: string, prefix: string, token: string, intervalSeconds: string): Record<string, string> {
  return {
    AWS_S3_ENDPOINT: endpoint,
    AWS_S3_BUCKET: "backups",
    AWS_S3_PATH: prefix,
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
    LIFEBOAT_AGENT_TOKEN: token,
    LIFEBOAT_AGENT_HOST: "127.0.0.1",
    LIFEBOAT_AGENT_PORT: "0",
    LIFEBOAT_AGENT_INSECURE_HTTP: "true",
    LIFEBOAT_LOG_INTERVAL_SECONDS: intervalSeconds,
  };
}

/**
 * Pauses the writer process (SIGSTOP) outside a write transaction, for a test that then writes itself:
 * a writer stopped inside one would hold SQLite's write lock for as long as it stays stopped, and the
 * test's writes would fail with "database is locked". Checks with BEGIN IMMEDIATE (no waiting), and
 * lets the writer run a moment and tries again while it holds the lock.
 */
export async function pauseWriterOutsideTransaction(
  writer: { process: { kill(signal: NodeJS.Signals): boolean } },
  dbPath: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const db = new Database(dbPath, { fileMustExist: true });
  try {
    db.pragma("busy_timeout = 0");
    for (;;) {
      writer.process.kill("SIGSTOP");
      try {
        db.exec("BEGIN IMMEDIATE; ROLLBACK");
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== "SQLITE_BUSY" || Date.now() > deadline) {
          writer.process.kill("SIGCONT");
          throw err;
        }
      }
      writer.process.kill("SIGCONT");
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    db.close();
  }
}

/**
 * With the writer process paused: ticks `shipper` until everything it read is uploaded, then runs
 * `then` (still paused), then resumes the writer. Two rounds are enough on a quiet machine; under
 * load an upload can fail and wait in the spool for the next round (which retries it, in order), so
 * this keeps ticking — up to `timeoutMs`, then fails naming the shipper's problem.
 */
export async function withShippedWhilePaused<T>(
  writer: { process: { kill(signal: NodeJS.Signals): boolean } },
  shipper: { tick(): Promise<void>; status(): { pendingSegments: number; problem: string | null } },
  then: () => Promise<T>,
  timeoutMs = 60_000,
): Promise<T> {
  writer.process.kill("SIGSTOP");
  try {
    await shipper.tick(); // a round that began before the pause
    await shipper.tick();
    const deadline = Date.now() + timeoutMs;
    while (shipper.status().pendingSegments > 0) {
      if (Date.now() > deadline)
        throw new Error(`segments still wait in the spool after ${timeoutMs} ms: ${shipper.status().problem ?? "no problem reported"}`);
      await new Promise((r) => setTimeout(r, 250));
      await shipper.tick();
    }
    return await then();
  } finally {
    writer.process.kill("SIGCONT");
  }
}

/** A point of the log taken with the writer paused: the revision shipped, a live copy at it, and its compact revision. */
export interface LogPoint {
  revision: number;
  copy: string;
  compact: number;
}

/** With the writer paused and everything read uploaded (withShippedWhilePaused), copies the live database to `copy`. */
export function takeLogPoint(
  writer: { process: ChildProcess },
  shipper: { tick(): Promise<void>; status(): { pendingSegments: number; problem: string | null } },
  dbPath: string,
  copy: string,
): Promise<LogPoint> {
  return withShippedWhilePaused(writer, shipper, async () => {
    await copyLive(dbPath, copy);
    const d = dumpKine(copy);
    return { revision: d.revision, copy, compact: d.compactRevision };
  });
}

/** Puts another database file at `dbPath` (another inode, no -wal/-shm beside it), as a restore or a new server does. The writer must be stopped. */
export function replaceDatabase(dbPath: string, from: string): void {
  for (const f of ["-wal", "-shm"]) rmSync(dbPath + f, { force: true });
  copyFileSync(from, dbPath + ".new");
  rmSync(dbPath);
  copyFileSync(dbPath + ".new", dbPath);
  rmSync(dbPath + ".new");
}

/** A small object of the store (a marker) as text. */
export async function readStoreText(store: BackupStore, key: string): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of await store.get(key)) parts.push(c as Buffer);
  return Buffer.concat(parts).toString("utf8");
}

/** The store's log objects' keys, sorted (segments and markers). */
export async function storedLogKeys(store: BackupStore): Promise<string[]> {
  const out: string[] = [];
  for await (const o of listAll(store, { prefix: "lifeboat-log_" })) out.push(path.basename(o.key));
  return out.sort();
}

/** Plans and stages a restore to a point (from `setId` or "latest") in `stagingDir`, as `restore --to-revision` does before verifying. */
export async function restoreToPoint(deps: AgentDeps, setId: string, target: PointTarget, stagingDir: string) {
  const plan = await planPoint(deps, setId, target);
  mkdirSync(stagingDir, { recursive: true });
  const { staged, applied } = await stagePoint(deps, plan, { stagingDir, maxBytes: 1 << 30, durable: false });
  return { plan, staged, applied };
}

/** The agent configuration of a log test: the server directory, `<work>/passphrase`, a bucket "backups" of s3rver under `prefix`, no schedule, silent. */
export function logTestConfig(work: string, serverDir: string, s3: EmbeddedS3, prefix: string, env: Record<string, string> = {}): AgentConfig {
  return loadAgentConfig({
    LIFEBOAT_K3S_SERVER_DIR: serverDir,
    LIFEBOAT_PASSPHRASE_FILE: path.join(work, "passphrase"),
    LIFEBOAT_STATE_DIR: path.join(work, "state-" + prefix),
    AWS_S3_ENDPOINT: s3.endpoint,
    AWS_S3_BUCKET: "backups",
    AWS_S3_PATH: prefix,
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
    LIFEBOAT_BACKUP_SCHEDULE: "off",
    LOG_LEVEL: "silent",
    ...env,
  });
}

/** Deps for a log test, configured by logTestConfig. */
export function logTestDeps(work: string, serverDir: string, s3: EmbeddedS3, prefix: string, env: Record<string, string> = {}): AgentDeps {
  return makeDeps(logTestConfig(work, serverDir, s3, prefix, env));
}

/** Tears a log test down: the shipper, the writer (resumed first, in case it was paused), s3rver, the work directory. Never throws. */
export async function stopLogTest(parts: { shipper?: { stop(): Promise<void> }; writer: RunningWriter | null; s3?: EmbeddedS3; work: string }): Promise<void> {
  await parts.shipper?.stop().catch(() => {});
  if (parts.writer) {
    parts.writer.process.kill("SIGCONT");
    await parts.writer.stop().catch(() => {});
  }
  await parts.s3?.stop().catch(() => {});
  rmSync(parts.work, { recursive: true, force: true });
}

type RunningWriter = { process: ChildProcess; stop(): Promise<unknown> };

/**
 * A log test's real parts: a work directory with `passphrase`, s3rver on loopback, a test server
 * directory, the kine-like writer on it (compacting), and deps shipping to s3rver under `prefix`.
 * Rejects when a part does not start.
 */
export async function startLogTest(o: {
  passphrase: string;
  prefix: string;
  seed: number;
  marker: string;
  intervalMs: number;
  compactEveryMs: number;
  /** More agent environment (e.g. LIFEBOAT_LOG_COMPACT_HOURS). */
  env?: Record<string, string>;
}): Promise<{ work: string; s3: EmbeddedS3; server: TestServer; writer: RunningKineWriter; deps: AgentDeps }> {
  const work = mkdtempSync(path.join(tmpdir(), `lifeboat-${o.prefix}-`));
  writeFileSync(path.join(work, "passphrase"), o.passphrase + "\n");
  const s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["backups"] });
  const server = makeTestServer(path.join(work, "k3s"), { seed: o.seed, marker: o.marker });
  const writer = await spawnKineWriter({ db: server.dbPath, intervalMs: o.intervalMs, compactEveryMs: o.compactEveryMs, seed: o.seed });
  return { work, s3, server, writer, deps: logTestDeps(work, server.serverDir, s3, o.prefix, o.env) };
}

/**
 * A restored database and the live copy taken at the same point, as dumps to compare row for row.
 * kine's compaction updates compact_rev_key in place and writes no revision, so one that ran after
 * the point's last write is in the copy but in no segment: it is run on the restore first (what k3s
 * would do on its next compaction). The restore must never be ahead of the copy.
 */
export function restoredAndLive(stagedDb: string, copy: string): { got: ReturnType<typeof dumpKine>; want: ReturnType<typeof dumpKine> } {
  const want = dumpKine(copy);
  const before = dumpKine(stagedDb).compactRevision;
  if (before > want.compactRevision) throw new Error(`the restore's compact revision ${before} is ahead of the live copy's ${want.compactRevision}`);
  if (before < want.compactRevision) compactKine(stagedDb, want.compactRevision);
  return { got: dumpKine(stagedDb), want };
}

/** Writes one object of a directory store, for the planner's and the timeline's tests. */
export type PutObject = (key: string, body?: string | Buffer) => void;

/**
 * A complete one-copy Lifeboat set at `stamp` (lifeboat_<stamp>_…) whose manifest records
 * `revision`: empty archives, as the planner and the timeline read only names and manifests.
 */
export function putFakeSet(put: PutObject, stamp: string, revision: number): void {
  put(`lifeboat_${stamp}_state.db.zst.gpg`);
  put(`lifeboat_${stamp}_secrets.tar.zst.gpg`);
  const database = {
    fileSize: 1,
    pageSize: 4096,
    pageCount: 1,
    freelistCount: 0,
    rowCount: 1,
    currentRevision: revision,
    compactRevision: 0,
    compactionLag: 0,
    uncompactedRows: 0,
    liveKeys: 0,
    topPrefixesByRows: [],
    topPrefixesByBytes: [],
  };
  const manifest = { version: 1, setId: `lifeboat-${stamp}`, createdAt: new Date().toISOString(), host: "h", k3sVersion: null, agentVersion: "t" };
  put(`lifeboat_${stamp}_manifest.json`, JSON.stringify({ ...manifest, snapshotMethod: "t", integrity: "ok", database, objects: [], timings: {} }));
}

/** A generation's marker: generation `gen` began from `baseSetId` at `baseRevision` (`startedAt`: now unless given). */
export function putFakeMarker(put: PutObject, gen: string, baseSetId: string, baseRevision: number, startedAt = new Date().toISOString()): void {
  put(generationKey(gen), JSON.stringify({ version: 1, generation: gen, startedAt, reason: "t", baseSetId, baseRevision, host: "h" }));
}
