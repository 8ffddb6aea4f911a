import os from "node:os";
import { copyFile, readFile, stat, statfs, mkdir } from "node:fs/promises";
import { openSync, readSync, closeSync } from "node:fs";
import path from "node:path";
import type Database from "better-sqlite3";
import type { CheckResult, FileSize, HealthReason, HealthReport } from "../../lib/contracts/agent-health";
import { writeFileDurable } from "../../lib/storage/durable-file";
import { DomainError } from "../../lib/contracts/errors";
import type { KineStats } from "../../lib/contracts/manifest";
import { SnapshotError, makeStaging, removeStaging, takeSnapshot } from "../backup/snapshot";
import { readKineStats } from "../kine/stats";
import { hasKineTable, openReadOnly, runCheck, type IntegrityPragma } from "../sqlite/check";
import type { AgentDeps } from "../module";
import { findPendingRestore } from "../restore/journal";
import { diskSpace } from "../host/disk";
import { k3sState } from "../host/k3s-service";
import { inspectDatastoreOwnership } from "../host/ownership";
import { stagingParent } from "../restore/paths";
import { runOffThread } from "../sqlite/worker";

/**
 * The health of the live database. The live files are only ever read, and only briefly: a
 * page-for-page copy in one read transaction (SQLite's backup API, so damage is copied too), and all
 * checks then run on the copy. A quick_check reads every page of every table (unlike count(*), which
 * SQLite answers from an index and which stays "fine" on a corrupt table); kine's statistics scan the
 * table itself as well (readKineStats, the same code as the backup manifest).
 *
 * When a WAL sits next to the database without its -shm index, nothing has it open: opening it, even
 * read-only, would create an -shm and replay the WAL. Then the files are copied first and everything
 * runs on the copies. So too with a rollback journal next to it (a write that never committed): a
 * read-only connection cannot roll it back, and the file alone is torn; the copy is settled (the
 * journal rolled back, as SQLite does when k3s next opens the file) and checked.
 */

/** Compaction lag above which kine's compaction is reported as stuck (healthy: ~1,000 + one interval's writes). */
export const COMPACTION_LAG_WARNING = 10_000;
/** WAL size above which checkpoints are reported as not completing: LIFEBOAT_WAL_WARNING_MB's default, as LifeboatWalTooLarge (deploy/prometheus) says. */
export const WAL_WARNING_BYTES = 100e6;
/** Share of rows that compaction would delete above which the database is reported as bloated. */
export const DEAD_ROWS_WARNING = 0.5;

const n = (x: number) => x.toLocaleString("en-US");
const mb = (x: number) => `${(x / 1e6).toFixed(1)} MB`;
const q = (p: string) => (/^[A-Za-z0-9_./:@%+=-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`);

async function fileSize(p: string): Promise<FileSize> {
  const st = await stat(p).catch(() => null);
  return { path: p, exists: Boolean(st), bytes: st ? st.size : null };
}

/** The journal mode written in the header: byte 18 is 2 for WAL databases. */
function headerJournalMode(dbPath: string): string | null {
  const buf = Buffer.alloc(100);
  let fd: number | undefined;
  try {
    fd = openSync(dbPath, "r");
    if (readSync(fd, buf, 0, 100, 0) < 100 || !buf.subarray(0, 15).equals(Buffer.from("SQLite format 3"))) return null;
    return buf[18] === 2 ? "wal" : "delete";
  } catch {
    return null;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A rollback journal SQLite would roll back: not empty, its header not zeroed (a finished write's persisted journal starts with 0). */
function isHotJournal(journalPath: string): boolean {
  const buf = Buffer.alloc(1);
  let fd: number | undefined;
  try {
    fd = openSync(journalPath, "r");
    return readSync(fd, buf, 0, 1, 0) === 1 && buf[0] !== 0;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Runs quick_check or integrity_check (at most 20 messages) on an open database, timed. Never throws. */
function timedCheck(db: Database.Database, pragma: IntegrityPragma): CheckResult {
  const t0 = performance.now();
  const at = new Date().toISOString();
  let outcome;
  try {
    outcome = runCheck(db, pragma, 20);
  } catch (err) {
    outcome = { ok: false, messages: [(err as Error).message] };
  }
  return { ran: true, ...outcome, millis: performance.now() - t0, at };
}

const NOT_RUN: CheckResult = { ran: false, ok: false, messages: [], millis: 0, at: null };

export interface FileChecks {
  opened: boolean;
  error: string | null;
  pageSize: number | null;
  pageCount: number | null;
  freelistCount: number | null;
  quick: CheckResult;
  full: CheckResult | null;
  kine: KineStats | null;
  kineError: string | null;
}

/** Opens `file` read-only and runs the checks, on the calling thread (health runs it on a SQLite worker: the "health" task). Never throws. */
export function healthFileChecks(file: string, full: boolean, withStats: boolean): FileChecks {
  let db: Database.Database | undefined;
  const out: FileChecks = {
    opened: false,
    error: null,
    pageSize: null,
    pageCount: null,
    freelistCount: null,
    quick: NOT_RUN,
    full: null,
    kine: null,
    kineError: null,
  };
  try {
    db = openReadOnly(file);
    out.pageSize = db.pragma("page_size", { simple: true }) as number;
    out.pageCount = db.pragma("page_count", { simple: true }) as number;
    out.freelistCount = db.pragma("freelist_count", { simple: true }) as number;
    out.opened = true;
  } catch (err) {
    out.error = (err as Error).message;
    db?.close();
    return out;
  }
  try {
    out.quick = timedCheck(db, "quick_check");
    if (full) out.full = timedCheck(db, "integrity_check");
    if (withStats) {
      if (!hasKineTable(db)) out.kineError = "There is no kine table in this database.";
      else {
        try {
          out.kine = readKineStats(db, file);
        } catch (err) {
          out.kineError = `kine statistics could not be read: ${(err as Error).message}`;
        }
      }
    }
  } finally {
    db.close();
  }
  return out;
}

export interface HealthOptions {
  /** Run a full integrity_check too (slow on big databases). */
  full?: boolean;
}

/** Where the result of the last scheduled (or requested) full integrity_check is kept. */
function lastIntegrityFile(stateDir: string): string {
  return path.join(stateDir, "health", "last-integrity.json");
}

/**
 * The last full check, when it was of the database file there now: a restore puts a new file in
 * place (a rename: another inode), and the old file's damage says nothing about it. `dbIno` is the
 * live file's inode (undefined when there is none).
 */
async function loadLastIntegrity(stateDir: string, dbIno: number | undefined): Promise<CheckResult | null> {
  try {
    const { dbIno: checkedIno, ...result } = JSON.parse(await readFile(lastIntegrityFile(stateDir), "utf8")) as CheckResult & { dbIno?: number };
    return checkedIno === undefined || checkedIno === dbIno ? result : null;
  } catch {
    return null;
  }
}

async function saveLastIntegrity(stateDir: string, result: CheckResult, dbIno: number | undefined): Promise<void> {
  const file = lastIntegrityFile(stateDir);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileDurable(file, JSON.stringify({ ...result, dbIno }));
}

/** The health check could not run at all (`health_unavailable`), e.g. its state directory cannot be written. */
export class HealthUnavailableError extends DomainError {
  constructor(cause: unknown) {
    super("health_unavailable", `The health check could not run: ${(cause as Error)?.message ?? String(cause)}. Check that LIFEBOAT_STATE_DIR is writable.`, {
      cause,
    });
  }
}

/**
 * Checks the live database and everything around it (see the module comment). Never throws for a
 * damaged database — that is a finding; throws HealthUnavailableError only when the check cannot run
 * (its state directory cannot be written).
 */
export async function runHealthCheck(deps: AgentDeps, opts: HealthOptions = {}): Promise<HealthReport> {
  try {
    return await checkHealth(deps, opts);
  } catch (err) {
    throw new HealthUnavailableError(err);
  }
}

async function checkHealth(deps: AgentDeps, opts: HealthOptions): Promise<HealthReport> {
  const cfg = deps.config;
  const t0 = performance.now();
  const reasons: HealthReason[] = [];
  const add = (level: HealthReason["level"], code: string, message: string, fix: string | null = null) => reasons.push({ level, code, message, fix });

  const [db, wal, shm, journal] = await Promise.all([
    fileSize(cfg.dbPath),
    fileSize(`${cfg.dbPath}-wal`),
    fileSize(`${cfg.dbPath}-shm`),
    fileSize(`${cfg.dbPath}-journal`),
  ]);
  const hotJournal = (journal.bytes ?? 0) > 0 && isHotJournal(journal.path);
  const dbStat = await stat(cfg.dbPath).catch(() => null);
  // Only a regular file is read: opening a FIFO for reading waits for a writer.
  const notAFile = dbStat && !dbStat.isFile() ? (dbStat.isDirectory() ? "a directory" : "not a regular file") : null;
  const journalMode = db.exists && !notAFile ? headerJournalMode(cfg.dbPath) : null;
  const dbIno = dbStat?.ino;
  let checks: FileChecks = {
    opened: false,
    error: null,
    pageSize: null,
    pageCount: null,
    freelistCount: null,
    quick: NOT_RUN,
    full: null,
    kine: null,
    kineError: null,
  };
  let checkedOn: "live" | "copy" = "live";

  if (!db.exists) {
    checks.error = "missing";
    add("critical", "db_missing", `There is no database at ${cfg.dbPath}.`, "Check LIFEBOAT_K3S_SERVER_DIR, or restore a backup (lifeboat-agent restore).");
  } else if (notAFile) {
    checks.error = notAFile;
    add(
      "critical",
      "db_unreadable",
      `${cfg.dbPath} is not a regular file (${notAFile === "a directory" ? "it is a directory" : "a FIFO, socket or device"}): SQLite cannot open it, and k3s cannot start on it.`,
      "Check LIFEBOAT_K3S_SERVER_DIR; move it aside and restore a backup (lifeboat-agent restore).",
    );
  } else {
    const staging = await makeStaging(path.join(cfg.stateDir, "health"), "check");
    try {
      let source = cfg.dbPath;
      if ((wal.exists && !shm.exists) || hotJournal) {
        // Nothing has the database open (no -shm), or a journal waits to be rolled back: copy the files and work on the copies.
        checkedOn = "copy";
        // Room first: a copy that runs out of it fills the disk on the way.
        const need = (db.bytes ?? 0) + (wal.bytes ?? 0) + (journal.bytes ?? 0);
        const free = await statfs(staging).then(
          (st) => st.bavail * st.bsize,
          () => Infinity,
        );
        if (free < need)
          throw new SnapshotError(
            `Not enough free space in ${staging} to copy state.db and its ${hotJournal ? "rollback journal" : "WAL"} (${mb(need)}, ${mb(free)} free), which the check works on while ${hotJournal ? "the journal waits to be rolled back" : "no -shm is next to the WAL"}. Free space there, or point LIFEBOAT_STATE_DIR at a disk with room`,
            "no_space",
          );
        source = path.join(staging, "raw", "state.db");
        await mkdir(path.dirname(source), { mode: 0o700 });
        await copyFile(cfg.dbPath, source);
        if (wal.exists) await copyFile(`${cfg.dbPath}-wal`, `${source}-wal`);
        if (hotJournal) {
          await copyFile(`${cfg.dbPath}-journal`, `${source}-journal`);
          await runOffThread({ kind: "settle", dbPath: source, durable: false }).catch(() => false);
        }
      }
      let checkTarget: string;
      let noRoom = false;
      try {
        const snapDir = path.join(staging, "snap");
        await mkdir(snapDir, { mode: 0o700 });
        checkTarget = (await takeSnapshot(source, snapDir, "backup-one-step")).path;
      } catch (err) {
        // No room for a copy: a plain copy would fill the disk under k3s. Read the live file itself
        // (read-only; in WAL mode k3s's writes go on meanwhile) when that is safe, as it is when no
        // WAL waits without its -shm (source is then the live file); the disk_space finding says why.
        if (err instanceof SnapshotError && err.failure === "no_space" && source === cfg.dbPath) {
          noRoom = true;
          checkTarget = source;
        } else {
          if (err instanceof SnapshotError && err.failure === "no_space") throw err;
          // SQLite would not copy it (not a database, damaged page 1…): check a plain copy to get its words.
          checkedOn = "copy";
          checkTarget = path.join(staging, "plain.db");
          await copyFile(source, checkTarget);
        }
      }
      // quick_check and the statistics read every page: on a worker, so the agent keeps answering meanwhile.
      checks = await runOffThread({ kind: "health", file: checkTarget, full: Boolean(opts.full), withStats: true });
      if (checks.opened && !checks.quick.ok && wal.exists && !noRoom) {
        // Is the WAL the problem? Check the database file alone.
        const alone = path.join(staging, "without-wal.db");
        await copyFile(cfg.dbPath, alone);
        const aloneChecks = await runOffThread({ kind: "health", file: alone, full: false, withStats: false });
        if (aloneChecks.opened && aloneChecks.quick.ok) {
          add(
            "critical",
            "wal_corrupts_db",
            `state.db passes quick_check on its own, but applying the WAL next to it (state.db-wal, ${mb(wal.bytes ?? 0)}) corrupts it: the WAL belongs to another copy of the database, or the damage is in the most recent writes. Do not start k3s on these files.`,
            `Stop k3s, then run \`lifeboat-agent recover\` to compare both, or move the WAL aside: mv ${q(cfg.dbPath)}-wal ${q(cfg.dbPath)}-wal.bad && mv ${q(cfg.dbPath)}-shm ${q(cfg.dbPath)}-shm.bad (that drops the writes it holds).`,
          );
        }
      }
    } finally {
      await removeStaging(staging);
    }

    if (hotJournal)
      add(
        "warning",
        "hot_journal",
        `A rollback journal (state.db-journal, ${mb(journal.bytes ?? 0)}) is next to state.db: a write was interrupted before it committed, and the file alone may be torn. SQLite rolls it back when k3s next opens the database; the checks ran on a copy with it rolled back.`,
        "Leave state.db-journal where it is (deleting it can leave the file torn) and start k3s; run `lifeboat-agent health` again once it runs.",
      );
    if (!checks.opened) {
      add(
        "critical",
        "db_unreadable",
        `SQLite cannot open ${cfg.dbPath}: ${checks.error}. k3s cannot start on it.`,
        "Run `lifeboat-agent recover` to try every recovery (on a copy), then restore the best result or the newest good backup.",
      );
    } else if (!checks.quick.ok) {
      add(
        "critical",
        "quick_check_failed",
        `PRAGMA quick_check found damage: ${checks.quick.messages.slice(0, 3).join("; ")}${checks.quick.messages.length > 3 ? "; …" : ""}`,
        "Run `lifeboat-agent recover` (it works on a copy) and restore the best result or the newest good backup.",
      );
    }
    if (checks.full && checks.full.ran) {
      await saveLastIntegrity(cfg.stateDir, checks.full, dbIno).catch(() => {});
      if (!checks.full.ok && checks.quick.ok)
        add(
          "critical",
          "integrity_check_failed",
          `PRAGMA integrity_check found damage: ${checks.full.messages.slice(0, 3).join("; ")}`,
          "Run `lifeboat-agent recover` and restore.",
        );
    }
  }

  const integrityCheck = checks.full ?? (await loadLastIntegrity(cfg.stateDir, dbIno));
  if (!checks.full && integrityCheck && integrityCheck.ran && !integrityCheck.ok && checks.quick.ok)
    add(
      "critical",
      "integrity_check_failed",
      `The last full integrity_check (${integrityCheck.at}) found damage: ${integrityCheck.messages.slice(0, 2).join("; ")}`,
      "Run `lifeboat-agent health --full` to check again, then `lifeboat-agent recover`.",
    );

  const kine = checks.kine ? { ...checks.kine, fileSize: db.bytes ?? checks.kine.fileSize } : null;
  if (checks.opened && !kine && checks.kineError)
    add(
      checks.quick.ok ? "critical" : "warning",
      "kine_unreadable",
      checks.kineError,
      checks.quick.ok
        ? "Check LIFEBOAT_K3S_SERVER_DIR (db/state.db below it is k3s's kine database). If it points at k3s's, its data is gone: do not start k3s on it (kine would start an empty cluster); restore the newest good backup."
        : null,
    );
  if (kine) {
    if (kine.compactionLag > COMPACTION_LAG_WARNING)
      add(
        "warning",
        "compaction_stuck",
        `compaction lag ${n(kine.compactionLag)} revisions: kine compaction appears stuck; backups will keep growing.`,
        "Check k3s's log for \"Compact failed\" (slow storage makes kine's compaction time out); restarting k3s retries it.",
      );
    // kine keeps the newest 1,000 revisions on purpose, mostly superseded lease updates: only many more is a finding.
    if (kine.uncompactedRows > COMPACTION_LAG_WARNING && kine.uncompactedRows / kine.rowCount > DEAD_ROWS_WARNING)
      add(
        "warning",
        "dead_rows",
        `${Math.round((100 * kine.uncompactedRows) / kine.rowCount)} % of the kine table (${n(kine.uncompactedRows)} of ${n(kine.rowCount)} rows) is old versions that compaction would delete.`,
        null,
      );
  }
  const freelistRatio = checks.pageCount && checks.freelistCount !== null ? checks.freelistCount / checks.pageCount : null;
  if (freelistRatio !== null && freelistRatio > 0.5 && (db.bytes ?? 0) > 50e6)
    add(
      "warning",
      "mostly_free",
      `${Math.round(freelistRatio * 100)} % of state.db (${mb(db.bytes ?? 0)}) is free pages: compaction freed them but the file never shrinks.`,
      "With k3s stopped: sqlite3 state.db 'VACUUM' (or restore a Lifeboat backup, which is compact).",
    );
  if (wal.exists && (wal.bytes ?? 0) > WAL_WARNING_BYTES)
    add(
      "warning",
      "wal_large",
      `The WAL is ${mb(wal.bytes ?? 0)}, larger than it should ever get (${WAL_WARNING_BYTES / 1e6} MB): checkpoints are not completing.`,
      "A long-running reader blocks checkpoints; restarting k3s checkpoints the WAL.",
    );

  const ownership = inspectDatastoreOwnership(cfg);
  for (const e of ownership)
    if (!e.ok && e.problem)
      add(
        "warning",
        e.exists ? "owner_or_mode" : "missing_file",
        e.problem + (e.path === cfg.tokenPath && !e.exists ? ": a restore needs the token that encrypted the datastore" : ""),
        e.fix,
      );

  const disk = await diskSpace(await stagingParent(cfg), cfg.serverDir, (db.bytes ?? 0) + (wal.bytes ?? 0));
  if (!disk.enoughForStaging)
    add(
      "warning",
      "disk_space",
      `Only ${mb(disk.freeBytes)} free in ${disk.stagingDir}; staging a restore of this database needs about ${mb(disk.neededForStaging)}.`,
      "Free disk space, or point LIFEBOAT_STATE_DIR at a disk with room (on the same filesystem as the server dir).",
    );
  if (!disk.sameFilesystemAsServer)
    add("warning", "staging_other_fs", `Staging (${disk.stagingDir}) is not on the server dir's filesystem, so the swap cannot be an atomic rename.`, null);

  const k3s = await k3sState(cfg.k3sStatusCmd, cfg.dbPath);
  if (!k3s.present)
    add(
      "warning",
      "k3s_missing",
      `The k3s service was not found (\`${cfg.k3sStatusCmd}\`).`,
      "Install k3s, or set LIFEBOAT_K3S_STATUS_CMD / _START_CMD / _STOP_CMD for how k3s runs here.",
    );
  else if (!k3s.running) add("warning", "k3s_not_running", `k3s is not running (${k3s.state}).`, cfg.k3sStartCmd);

  const pending = await findPendingRestore(cfg).catch(() => null);
  if (pending)
    add(
      "warning",
      "restore_pending",
      `Restore ${pending.id} is ${pending.status === "awaiting-confirmation" ? "staged and waiting for confirmation" : `not finished (${pending.phase})`}.`,
      `lifeboat-agent restore --status ${pending.id}`,
    );

  const order = { critical: 0, warning: 1, ok: 2 } as const;
  reasons.sort((a, b) => order[a.level] - order[b.level]);
  const verdict = reasons.some((r) => r.level === "critical") ? "critical" : reasons.some((r) => r.level === "warning") ? "warning" : "ok";
  return {
    checkedAt: new Date().toISOString(),
    host: os.hostname(),
    serverDir: cfg.serverDir,
    dbPath: cfg.dbPath,
    verdict,
    reasons,
    files: { db, wal, shm },
    database: {
      opened: checks.opened,
      error: checks.error,
      checkedOn,
      journalMode,
      pageSize: checks.pageSize,
      pageCount: checks.pageCount,
      freelistCount: checks.freelistCount,
      freelistRatio,
    },
    quickCheck: checks.quick,
    integrityCheck,
    kine,
    kineError: checks.kineError,
    ownership: { expected: cfg.owner, entries: ownership },
    disk,
    k3s,
    pendingRestoreId: pending?.id ?? null,
    millis: performance.now() - t0,
  };
}
