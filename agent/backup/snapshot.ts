import { promises as fsp, openSync, readSync, closeSync } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import Database from "better-sqlite3";
import { DomainError } from "../../lib/contracts/domain-error";
import type { KineStats } from "../../lib/contracts/manifest";
import { readKineStats } from "../kine/stats";
import { hasKineTable, openReadOnly, runCheck } from "../sqlite/check";

/**
 * Online snapshots of kine's live `state.db` (WAL mode, written by k3s while we read).
 *
 * Why these methods: SQLite's stepped online backup (`sqlite3 .backup`, better-sqlite3's default
 * `backup()`, 100 pages a step) restarts whenever another connection writes between steps, and kine
 * writes several times a second, so it never finishes on a busy server. Both methods here copy in ONE
 * read transaction, so a write in between cannot restart them:
 * - "vacuum-into" (the default): `VACUUM INTO` writes a fresh, compact copy (no free pages, journal
 *   mode DELETE). kine frees pages when it compacts but never shrinks the file, and freed pages keep
 *   their old bytes, so on a compacted database the copy is a fraction of the file and compresses
 *   far smaller (measured: 206 MB file → 61 MB zstd as a page copy, 3 MB via VACUUM INTO). Less to
 *   compress, encrypt and upload makes the whole backup faster even though the copy itself costs a
 *   little more CPU. `npm run bench:backup` measures both methods under a kine-like writer.
 * - "backup-one-step": `db.backup(dest, { progress: () => 0x7fffffff })`, a page-for-page copy in
 *   one step. Kept for the benchmark and as an escape hatch.
 * Either way the read transaction lasts only as long as the copy (~0.4 s for 200 MB here): a long
 * read transaction would hold back kine's `wal_checkpoint(FULL)`, which blocks kine's writers while
 * it waits. Everything slow (integrity check, statistics, compression, upload) runs on the copy.
 */
export type SnapshotMethod = "vacuum-into" | "backup-one-step";
export const DEFAULT_SNAPSHOT_METHOD: SnapshotMethod = "vacuum-into";

export type SnapshotFailure = "missing" | "not_sqlite" | "not_kine" | "damaged" | "no_space" | "other";

/** Taking or checking a snapshot failed (`snapshot_<failure>`); the message says what happened and what to do. */
export class SnapshotError extends DomainError {
  constructor(
    message: string,
    readonly failure: SnapshotFailure,
    options?: { cause?: unknown },
  ) {
    super(`snapshot_${failure}`, message, options);
  }
}

export interface Snapshot {
  /** The copy, in its own staging directory. */
  path: string;
  method: SnapshotMethod;
  /** Wall time of the copy (the only time a read transaction is open on the live database). */
  ms: number;
  bytes: number;
}

const SQLITE_MAGIC = Buffer.from("SQLite format 3\0", "latin1");
// better-sqlite3 defaults to a 16 MB page cache per connection (and per database VACUUM INTO
// writes); one pass over the file gains nothing from it, and the agent's peak RSS goal is 100 MB.
const SQLITE_CACHE_KIB = 2000;

/** Where snapshots are staged: below LIFEBOAT_STATE_DIR, on the server's own disk. */
export function snapshotStagingRoot(stateDir: string): string {
  return path.join(stateDir, "snapshots");
}

/** A private staging directory below `root` (created 0700); remove it with `removeStaging`. */
export async function makeStaging(root: string, purpose: string): Promise<string> {
  await fsp.mkdir(root, { recursive: true, mode: 0o700 });
  await sweepStaleStaging(root);
  const dir = path.join(root, `${purpose}-${Date.now()}-${randomBytes(4).toString("hex")}`);
  await fsp.mkdir(dir, { mode: 0o700 });
  return dir;
}

export async function removeStaging(dir: string): Promise<void> {
  await fsp.rm(dir, { recursive: true, force: true });
}

/** Leftovers of runs that died (SIGKILL, power loss) would otherwise pile up copies of the database. */
async function sweepStaleStaging(root: string): Promise<void> {
  const cutoff = Date.now() - 6 * 3600_000;
  for (const name of await fsp.readdir(root).catch(() => [] as string[])) {
    const p = path.join(root, name);
    const st = await fsp.stat(p).catch(() => null);
    if (st?.isDirectory() && st.mtimeMs < cutoff) await fsp.rm(p, { recursive: true, force: true });
  }
}

/** Checks that `dbPath` is a readable SQLite file before opening it (SQLite's own errors are terse). */
async function checkSource(dbPath: string): Promise<{ size: number; walSize: number }> {
  let st;
  try {
    st = await fsp.stat(dbPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT")
      throw new SnapshotError(
        `There is no database at ${dbPath}. Check LIFEBOAT_K3S_SERVER_DIR (the database is db/state.db below it; default /var/lib/rancher/k3s/server).`,
        "missing",
        { cause: err },
      );
    throw new SnapshotError(`Cannot read ${dbPath} (${code}). The agent must run as root on the k3s server.`, "other", { cause: err });
  }
  if (!st.isFile()) throw new SnapshotError(`${dbPath} is not a regular file. Check LIFEBOAT_K3S_SERVER_DIR.`, "not_sqlite");
  const head = Buffer.alloc(16);
  let n = 0;
  const fd = openSync(dbPath, "r");
  try {
    n = readSync(fd, head, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  if (n < 16 || !head.equals(SQLITE_MAGIC))
    throw new SnapshotError(
      `${dbPath} is not a SQLite database (it does not start with "SQLite format 3"). Check LIFEBOAT_K3S_SERVER_DIR; if this is k3s's database, it is damaged: run \`lifeboat-agent health\`.`,
      "not_sqlite",
    );
  const walSize = (await fsp.stat(dbPath + "-wal").catch(() => null))?.size ?? 0;
  return { size: st.size, walSize };
}

function describeSqliteError(err: unknown, dbPath: string): SnapshotError {
  const e = err as { code?: string; message?: string };
  if (e?.code === "SQLITE_NOTADB") return new SnapshotError(`${dbPath} is not a SQLite database (SQLite: ${e.message}).`, "not_sqlite", { cause: err });
  if (e?.code?.startsWith("SQLITE_CORRUPT"))
    return new SnapshotError(
      `The live database ${dbPath} is damaged (SQLite: ${e.message}). No backup was made from it; run \`lifeboat-agent health\` and restore the newest good backup.`,
      "damaged",
      { cause: err },
    );
  if (e?.code === "SQLITE_READONLY_ROLLBACK")
    return new SnapshotError(
      `${path.basename(dbPath)}-journal next to ${dbPath} is a rollback journal of a write that never committed (k3s stopped or crashed mid-write): the file alone may be torn, and only a writer may roll the journal back. The agent only reads the live files, so it made no copy of it. Leave the journal where it is, start k3s (SQLite rolls it back when k3s opens the database), and try again.`,
      "other",
      { cause: err },
    );
  if (e?.code === "SQLITE_FULL")
    return new SnapshotError(`The disk of the staging directory filled up during the snapshot. Free space or point LIFEBOAT_STATE_DIR elsewhere.`, "no_space", {
      cause: err,
    });
  return new SnapshotError(`The snapshot of ${dbPath} failed: ${e?.message ?? String(err)}`, "other", { cause: err });
}

/**
 * Copies the live database into `stagingDir` with one read transaction (see the module comment),
 * on a worker thread: the copy is synchronous SQLite work (~0.5 s for 60 MB here) that would
 * otherwise stop the agent from answering anything meanwhile. Never writes to the live database.
 * Throws SnapshotError (missing, not SQLite, damaged, no space).
 */
export async function takeSnapshot(dbPath: string, stagingDir: string, method: SnapshotMethod = DEFAULT_SNAPSHOT_METHOD): Promise<Snapshot> {
  const src = await checkSource(dbPath);
  const free = await fsp
    .statfs(stagingDir)
    .then((s) => s.bavail * s.bsize)
    .catch(() => Infinity);
  const need = src.size + src.walSize;
  if (free < need)
    throw new SnapshotError(
      `Not enough free space in ${stagingDir} for the snapshot: it needs up to ${need} bytes, ${free} are free. Free space or set LIFEBOAT_STATE_DIR to a disk with room.`,
      "no_space",
    );
  const dest = path.join(stagingDir, "snapshot.db");
  // A fresh staging directory only: a page copy onto an existing file (worse, onto the live database
  // itself if someone pointed staging at db/) would overwrite it.
  if (path.resolve(dest) === path.resolve(dbPath) || (await fsp.stat(dest).catch(() => null)))
    throw new SnapshotError(`The staging file ${dest} already exists; refusing to overwrite it. Use a fresh staging directory.`, "other");
  const { runOffThread } = await import("../sqlite/worker");
  const ms = await runOffThread({ kind: "copy", dbPath, dest, method });
  await fsp.chmod(dest, 0o600);
  const bytes = (await fsp.stat(dest)).size;
  return { path: dest, method, ms, bytes };
}

/**
 * The copy itself, on the calling thread (takeSnapshot runs it on a worker): one read transaction on
 * `dbPath`, the copy at `dest` made one self-contained file. Resolves with the milliseconds the read
 * transaction lasted. Throws SnapshotError; `dest` is removed on failure.
 */
export async function copyDatabase(dbPath: string, dest: string, method: SnapshotMethod): Promise<number> {
  let db: Database.Database | undefined;
  const t0 = performance.now();
  try {
    // Read-only: the agent must never change the live files (a read-write connection that closes last
    // would checkpoint and delete kine's WAL). WAL readers still share kine's -shm index.
    db = openReadOnly(dbPath, { busyTimeoutMs: 5000, cacheKib: SQLITE_CACHE_KIB });
    if (method === "vacuum-into") db.prepare("VACUUM INTO ?").run(dest);
    else await db.backup(dest, { progress: () => 0x7fffffff });
  } catch (err) {
    await fsp.rm(dest, { force: true });
    throw err instanceof SnapshotError ? err : describeSqliteError(err, dbPath);
  } finally {
    db?.close();
  }
  const ms = performance.now() - t0;
  if (method === "backup-one-step") {
    // A page copy keeps the WAL flag in its header; make the copy one self-contained file.
    const copy = new Database(dest);
    try {
      copy.pragma("journal_mode = DELETE");
    } finally {
      copy.close();
    }
  }
  return ms;
}

export interface CheckedSnapshot {
  integrity: "ok";
  stats: KineStats;
  integrityMs: number;
  statsMs: number;
}

/**
 * Runs `PRAGMA integrity_check` on the copy and, when it passes, kine statistics (readKineStats) on it.
 * Throws SnapshotError "damaged" with SQLite's first complaints, or "not_kine" when there is no kine table.
 */
export function checkSnapshot(snapshotPath: string, sourcePath: string): CheckedSnapshot {
  let db: Database.Database | undefined;
  try {
    db = openReadOnly(snapshotPath, { cacheKib: SQLITE_CACHE_KIB });
    const t0 = performance.now();
    const integrity = runCheck(db, "integrity_check", 20);
    const integrityMs = performance.now() - t0;
    const problems = integrity.ok ? [] : integrity.messages;
    if (problems.length)
      throw new SnapshotError(
        `The snapshot of ${sourcePath} failed PRAGMA integrity_check (${problems.slice(0, 3).join("; ")}${problems.length > 3 ? "; …" : ""}). It was not uploaded. The live database is probably damaged: run \`lifeboat-agent health\`.`,
        "damaged",
      );
    if (!hasKineTable(db))
      throw new SnapshotError(`${sourcePath} is a SQLite database but not kine's (it has no kine table). Check LIFEBOAT_K3S_SERVER_DIR.`, "not_kine");
    const t1 = performance.now();
    // Without mmap: the whole snapshot mapped in would count in the agent's RSS during the backup
    // (measured: +100-200 MB peak RSS; the statistics take ~0.1 s longer, on the worker, alongside the upload).
    const stats = readKineStats(db, snapshotPath, { mmap: false });
    return { integrity: "ok", stats, integrityMs, statsMs: performance.now() - t1 };
  } catch (err) {
    if (err instanceof SnapshotError) throw err;
    throw describeSqliteError(err, sourcePath);
  } finally {
    db?.close();
  }
}
