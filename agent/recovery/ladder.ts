import { copyFile, mkdir, realpath, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import Database from "better-sqlite3";
import type { Job } from "../../lib/contracts/agent-jobs";
import {
  RECOVERY_STEPS,
  type KineSoundness,
  type RecoveryReport,
  type RecoveryRung,
  type RecoveryRungName,
  type StartRecoveryRequest,
} from "../../lib/contracts/agent-recovery";
import type { RestoreSource } from "../../lib/contracts/agent-restore";
import { readPassphrase } from "../config";
import { processesHolding, databaseFiles } from "../host/k3s-service";
import type { JobHandle } from "../jobs/job-registry";
import { KINE_SCHEMA_SQL } from "../kine/schema";
import type { AgentDeps } from "../module";
import { listStoreSets } from "../backup/sets";
import { diffKineDatabases } from "../restore/diff";
import { newRestoreId } from "../restore/journal";
import { acquireDatastoreLock, DatastoreBusyError } from "../restore/lock";
import { resolveSource } from "../restore/sources";
import { stageBackup } from "../restore/stage";
import { hasKineTable, openReadOnly, runCheck } from "../sqlite/check";
import { startSqliteWorker } from "../sqlite/worker";
import type { KineDoubts } from "./kine-soundness";
import { salvageKineDatabase } from "./salvage";
import { checkRoom, freeNow, ioReason, isNoSpace, makeWritableDir, RecoveryStopped, writeFailureLine } from "./limits";
import { dumpInto, findSqliteCli, probeRecover, recoverInto, type SqliteCli } from "./sqlite-cli";
import { claimRecovery, pruneRecoveries, recoveriesRoot, recoveryDir, releaseRecovery, removeAllBut, saveReport } from "./store";

/**
 * The recovery ladder, always on copies in the recovery's own directory (the live files are only
 * read, by a plain file copy): 1. integrity_check, 2. `.dump` through the sqlite3 shell with the
 * ROLLBACK fix, 3. `.recover` where the shell's works, 4. Lifeboat's own page-level salvage, 5. the
 * kine check of every result (kine-soundness.ts: each row against the copies kine keeps of it;
 * damaged rows repaired from their intact copy or dropped). The best result (passes integrity_check,
 * most sound rows) is then compared with the newest good backup, so the user can choose between
 * them; it is a restore candidate (source { kind: "recovery", id }).
 *
 * integrity_check passing is not enough: a zeroed last overflow page leaves a file SQLite finds
 * whole while a value in it is not what kine wrote. So the kine check also runs on a file that
 * passes, and when rows disagree the whole ladder runs. Nor is a file that passes but holds no kine
 * rows (empty, another database) intact: every rung runs, and the advice is the newest good backup.
 *
 * Before anything is written (limits.ts): the recoveries directory must be writable, the datastore
 * lock is taken for the copy (a restore or rollback in another process never swaps the files under
 * it), and the filesystem must have room for every copy the ladder may make above the reserve k3s
 * keeps. When the ladder stops (no room after all, an I/O error), its files are removed and its
 * report says why; when it ends, only the results stay (the rungs' databases), not the copies.
 */

interface Outcome {
  /** The file has a kine table. */
  kine: boolean;
  rows: number;
  revisions: { min: number; max: number } | null;
  integrity: string;
}

/** Rows and revision range (scanning the table itself) and integrity_check of a kine database. */
function measure(file: string): Outcome {
  const db = openReadOnly(file);
  try {
    const check = runCheck(db, "integrity_check", 10);
    const integrity = check.ok ? "ok" : check.messages.join("; ");
    if (!hasKineTable(db)) return { kine: false, rows: 0, revisions: null, integrity };
    const r = db.prepare("SELECT COUNT(*) AS n, MIN(id) AS lo, MAX(id) AS hi FROM kine NOT INDEXED").get() as {
      n: number;
      lo: number | null;
      hi: number | null;
    };
    return { kine: true, rows: r.n, revisions: r.n ? { min: r.lo!, max: r.hi! } : null, integrity };
  } finally {
    db.close();
  }
}

/** Where SQLite keeps `file`'s -wal and -journal: beside the file a symlink points at (it resolves it). */
async function sidecarBase(file: string): Promise<string> {
  return realpath(file).catch(() => file);
}

function tryMeasure(file: string): Outcome | { error: string } {
  try {
    return measure(file);
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/**
 * Copies `work` to `dest`, lets SQLite settle the copy (`settle` on a connection: rolling back a hot
 * journal, applying a WAL) and measures both: the copy so settled, and `work` alone. A full disk is
 * thrown; any other failure is the copy's `error`.
 */
async function settleCopy(
  work: string,
  dest: string,
  settle: (db: Database.Database) => void,
): Promise<{ applied: Outcome | { error: string }; appliedOk: boolean; aloneOk: boolean }> {
  await copyFile(work, dest);
  let applied: Outcome | { error: string };
  try {
    const db = new Database(dest);
    try {
      settle(db);
    } finally {
      db.close();
    }
    applied = tryMeasure(dest);
  } catch (err) {
    if (isNoSpace(err)) throw err;
    applied = { error: (err as Error).message };
  }
  const alone = tryMeasure(work);
  return { applied, appliedOk: !("error" in applied) && applied.integrity === "ok", aloneOk: !("error" in alone) && alone.integrity === "ok" };
}

/** Makes sure a database produced by a rung has kine's indexes (a dump of a damaged file may lack them). */
function ensureKineSchema(file: string): void {
  const db = new Database(file);
  try {
    if (hasKineTable(db)) db.exec(KINE_SCHEMA_SQL);
    db.pragma("journal_mode = DELETE");
  } finally {
    db.close();
  }
}

function rung(name: RecoveryRungName, patch: Partial<RecoveryRung> = {}): RecoveryRung {
  return {
    name,
    label: RECOVERY_STEPS.find((s) => s.name === name)!.label,
    state: "skipped",
    skippedReason: null,
    error: null,
    rows: null,
    revisions: null,
    integrity: null,
    output: null,
    note: null,
    soundness: null,
    millis: 0,
    ...patch,
  };
}

const n = (x: number) => x.toLocaleString("en-US");
const objects = (x: number) => `${n(x)} object${x === 1 ? "" : "s"}`;

/** The kine check of one result, on a worker thread (it reads every value). Rejects with SQLite's error. */
async function auditOnWorker(file: string, doubts: KineDoubts, repair: boolean): Promise<KineSoundness | null> {
  const worker = startSqliteWorker();
  try {
    return await worker.run({ kind: "kine-audit", file, doubts, repair });
  } finally {
    worker.dispose();
  }
}

/** "2,154 rows checked: 2,150 confirmed, 3 without a second copy, 1 repaired, 0 dropped" */
export function describeSoundness(s: KineSoundness): string {
  return `${n(s.checked)} rows checked against kine's copies: ${n(s.confirmed)} confirmed, ${n(s.unverifiable)} without a second copy, ${n(s.repaired)} repaired, ${n(s.dropped)} dropped`;
}

/** Picks what to compare with: the newest complete Lifeboat set (its manifest says integrity ok), else the newest seed set. */
async function newestBackups(deps: AgentDeps): Promise<RestoreSource[]> {
  const { sets } = await listStoreSets(deps.store());
  const lifeboat = sets.filter((s) => s.format === "lifeboat" && s.missing.length === 0);
  const seed = sets.filter((s) => s.format === "seed" && s.objects.some((o) => o.kind === "logical" || o.kind === "file-archive"));
  return [...lifeboat, ...seed].slice(0, 3).map((s) => ({ kind: "backup" as const, setId: s.id }));
}

/**
 * The datastore lock (agent/restore/lock.ts), for the copy: a restore or rollback of another process
 * swaps the files under it. Throws RecoveryStopped when another process holds it or it cannot be taken.
 */
function holdDatastore(cfg: AgentDeps["config"]): () => void {
  try {
    return acquireDatastoreLock(cfg);
  } catch (err) {
    if (err instanceof DatastoreBusyError)
      throw new RecoveryStopped(
        `Another Lifeboat process (pid ${err.pid}) holds the datastore lock (a restore, rollback or restore drill is running), so a copy taken now could be torn by a restore's swap. Run the recovery again when it has finished. Nothing was copied.`,
      );
    throw new RecoveryStopped(
      `The datastore lock under ${cfg.stateDir} cannot be taken (${ioReason(err)}), so the recovery did not start. Nothing was copied.`,
    );
  }
}

/** What stopped the ladder (`subject`: 'The ".dump" step', "The recovery"), as its sentence. */
async function stoppedBy(subject: string, err: unknown, root: string): Promise<RecoveryStopped> {
  if (err instanceof RecoveryStopped) return err;
  if (isNoSpace(err)) {
    const free = await freeNow(root);
    return new RecoveryStopped(
      `${subject} could not write under ${root} (${ioReason(err)}${free ? `; ${free} now` : ""}). Free space there, or run the recovery with LIFEBOAT_STATE_DIR on a disk that has room (LIFEBOAT_STATE_DIR=/mnt/big/lifeboat lifeboat-agent recover).`,
    );
  }
  return new RecoveryStopped(`${subject} failed: ${ioReason(err)}.`);
}

/** A shell's import that could not write its database stops the ladder: the disk is full or failing. */
async function refuseFailedWrite(label: string, stderr: string, out: string, root: string): Promise<void> {
  const line = writeFailureLine(stderr);
  if (!line) return;
  const free = await freeNow(root);
  throw new RecoveryStopped(
    `${isNoSpace(line) ? "The disk filled up" : "Writing failed"} while ${label}'s output was imported into ${out} (sqlite3: "${line.trim()}"${free ? `; ${free} now` : ""}). Free space under ${root}, or run the recovery with LIFEBOAT_STATE_DIR on a disk that has room (LIFEBOAT_STATE_DIR=/mnt/big/lifeboat lifeboat-agent recover).`,
  );
}

/**
 * Runs the ladder (see the module comment) as the body of a recovery job. Rejects with
 * RecoveryStopped (a sentence) when it cannot start, or stops; its report then says so too.
 */
export async function runRecovery(deps: AgentDeps, req: StartRecoveryRequest, job: JobHandle, id: string): Promise<RecoveryReport> {
  const cfg = deps.config;
  const root = recoveriesRoot(cfg);
  const dir = recoveryDir(cfg, id);
  const sourcePath = path.resolve(req.path ?? cfg.dbPath);
  // Refusals below (no room, not writable, a restore elsewhere) show on the copy step.
  job.step("copy");
  await makeWritableDir(root);
  const release = holdDatastore(cfg);
  let held = true;
  const unlock = () => {
    if (held) release();
    held = false;
  };
  try {
    await pruneRecoveries(cfg);
    const cli = await findSqliteCli();
    const recoverBroken = cli
      ? await probeRecover(cli).catch((err: unknown) => `sqlite3's .recover could not be tried (${ioReason(err)})`)
      : "the sqlite3 shell is not installed";
    const st = await stat(sourcePath).catch(() => null);
    if (st?.isFile()) {
      const wal = await stat(`${await sidecarBase(sourcePath)}-wal`).catch(() => null);
      const rebuilt = 1 + (cli ? 1 : 0) + (recoverBroken ? 0 : 1);
      await checkRoom(root, st.size, wal?.isFile() ? wal.size : 0, rebuilt, path.basename(sourcePath));
    }
    await makeWritableDir(root, dir);
    try {
      claimRecovery(dir);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw await stoppedBy("The recovery", err, root);
    }
    return await climb({ deps, req, job, id, dir, root, sourcePath, cli, recoverBroken, unlock });
  } finally {
    unlock();
  }
}

interface Climb {
  deps: AgentDeps;
  req: StartRecoveryRequest;
  job: JobHandle;
  id: string;
  dir: string;
  root: string;
  sourcePath: string;
  cli: SqliteCli | null;
  /** Why .recover cannot run here; null when it can. */
  recoverBroken: string | null;
  /** Releases the datastore lock (once the live files are copied). */
  unlock: () => void;
}

/** The ladder itself, in `dir`. Rejects with RecoveryStopped after removing its files and saving the failed report. */
async function climb(c: Climb): Promise<RecoveryReport> {
  const { job, id, dir, root, sourcePath } = c;
  const report: RecoveryReport = {
    id,
    createdAt: new Date().toISOString(),
    finishedAt: null,
    sourcePath,
    wal: { present: false, bytes: 0, foreign: null, note: null },
    rungs: [],
    salvage: null,
    best: null,
    comparison: { backup: null, backupTakenAt: null, diff: null, error: null },
    recommendation: "",
    error: null,
  };
  const save = () => saveReport(c.deps.config, report);
  try {
    save();
    return await rungs(c, report, save);
  } catch (err) {
    const stop = await stoppedBy("The recovery", err, root);
    await removeAllBut(dir, new Set());
    for (const r of report.rungs) r.output = null;
    for (const s of RECOVERY_STEPS)
      if (!report.rungs.some((r) => r.name === s.name)) {
        report.rungs.push(rung(s.name, { skippedReason: "the recovery stopped before this rung" }));
        job.skip(s.name, "the recovery stopped before this rung");
      }
    report.best = null;
    report.error = stop.message;
    report.recommendation = `${stop.message} The recovery's copies were removed; the live database was only read.`;
    report.finishedAt = new Date().toISOString();
    try {
      save();
    } catch {
      // The report stays as last saved; without its owner it reads as stopped (store.ts).
    }
    releaseRecovery(dir);
    throw new RecoveryStopped(report.recommendation);
  }
}

/** The rungs, filling `report` (saved after each). Rejects when a rung cannot write (RecoveryStopped) or an I/O error stops the ladder. */
async function rungs(
  { deps, req, job, dir, root, sourcePath, cli, recoverBroken, unlock }: Climb,
  report: RecoveryReport,
  save: () => void,
): Promise<RecoveryReport> {
  const cfg = deps.config;
  const sourceName = path.basename(sourcePath);
  const timed = async (name: RecoveryRungName, fn: () => Promise<RecoveryRung>): Promise<RecoveryRung> => {
    job.step(name);
    const t0 = performance.now();
    let r: RecoveryRung;
    let stop: RecoveryStopped | null = null;
    try {
      r = await fn();
    } catch (err) {
      // No room, an I/O error: the rung says why, and the ladder stops (the catch below).
      stop = await stoppedBy(`The "${RECOVERY_STEPS.find((s) => s.name === name)!.label}" step`, err, root);
      r = rung(name, { state: "failed", error: stop.message });
    }
    r.millis = Math.round(performance.now() - t0);
    report.rungs.push(r);
    job.detail(
      name,
      r.state === "skipped"
        ? `skipped: ${r.skippedReason}`
        : `${r.state}${r.rows !== null ? `: ${n(r.rows)} rows` : ""}${r.integrity && r.integrity !== "ok" ? "; integrity_check fails" : ""}`,
    );
    if (stop) throw stop;
    save();
    return r;
  };

  // 1. Copy. Only a plain read of the live files, under the datastore lock; everything after works on the copies.
  const work = path.join(dir, "work.db");
  await timed("copy", async () => {
    const st = await stat(sourcePath).catch(() => null);
    if (!st?.isFile()) return rung("copy", { state: "failed", error: `There is no database file at ${sourcePath}.` });
    const holders = await processesHolding(databaseFiles(sourcePath));
    const withWal = path.join(dir, "with-wal.db");
    const withJournal = path.join(dir, "with-journal.db");
    await copyFile(sourcePath, work);
    const sidecar = await sidecarBase(sourcePath);
    const walStat = await stat(`${sidecar}-wal`).catch(() => null);
    const walBytes = walStat?.isFile() ? walStat.size : 0;
    const hasWal = walBytes > 0;
    // Beside a copy SQLite never opens by itself until the check below.
    if (hasWal) await copyFile(`${sidecar}-wal`, `${withWal}-wal`);
    const journalStat = await stat(`${sidecar}-journal`).catch(() => null);
    const journalBytes = journalStat?.isFile() ? journalStat.size : 0;
    if (journalBytes > 0) await copyFile(`${sidecar}-journal`, `${withJournal}-journal`);
    unlock();
    const notes: string[] = [];
    if (holders.length)
      notes.push(`k3s (pid ${holders.map((h) => h.pid).join(", ")}) had the database open: the copy may be torn; stop k3s for a faithful copy.`);
    if (journalBytes > 0) {
      // A rollback journal left by a write that never committed (a crash): the file alone is torn
      // mid-transaction, and SQLite rolls the journal back the next time a writer opens it (k3s
      // would). Do that to one copy (before the WAL, as SQLite does), and compare with the file alone.
      // Opening it is what rolls the journal back.
      const { applied, appliedOk, aloneOk } = await settleCopy(work, withJournal, (db) => db.prepare("SELECT COUNT(*) FROM sqlite_master").get());
      if ("error" in applied)
        notes.push(`The rollback journal next to ${sourceName} could not be rolled back (${applied.error}); the rungs work on the file alone.`);
      else if (!appliedOk && aloneOk)
        notes.push(
          `${sourceName} passes integrity_check on its own but not with the rollback journal next to it rolled back: the journal belongs to another copy of the database. The rungs work on the file alone.`,
        );
      else {
        await rename(withJournal, work);
        notes.push(
          `The rollback journal next to ${sourceName} (${n(journalBytes)} bytes, left by a write that never committed) was rolled back into the copy, as SQLite does when it next opens the file.`,
        );
      }
      for (const f of [withJournal, `${withJournal}-journal`]) await rm(f, { force: true });
    }
    if (hasWal) {
      report.wal.present = true;
      report.wal.bytes = walBytes;
      // Does the WAL belong to this database? Apply it to one copy, and compare with the file alone.
      const { applied, appliedOk, aloneOk } = await settleCopy(work, withWal, (db) => {
        db.pragma("wal_checkpoint(TRUNCATE)");
        db.pragma("journal_mode = DELETE");
      });
      if (!appliedOk && aloneOk) {
        report.wal.foreign = true;
        report.wal.note = `${sourceName} passes integrity_check on its own but not with the WAL next to it: the WAL belongs to another copy of the database (or holds the damage). The rungs work on the file alone.`;
      } else {
        report.wal.foreign = appliedOk && aloneOk ? false : null;
        report.wal.note = appliedOk
          ? "The WAL was applied to the copy (it holds the newest writes)."
          : "The WAL was applied to the copy; the result is damaged, and so is the file alone.";
        if (!("error" in applied)) await rename(withWal, work);
        else report.wal.note = `The WAL could not be applied (${applied.error}); the rungs work on the file alone.`;
      }
      for (const f of [withWal, `${withWal}-wal`, `${withWal}-shm`]) await rm(f, { force: true });
      notes.push(report.wal.note);
    }
    return rung("copy", { state: "ok", output: work, note: notes.join(" ") || null });
  });
  if (report.rungs[0].state === "failed") {
    report.error = report.rungs[0].error;
    report.recommendation = `Nothing to recover: ${report.error}`;
    report.finishedAt = new Date().toISOString();
    save();
    releaseRecovery(dir);
    return report;
  }

  // 2. integrity_check on the copy. A file that passes but holds no kine rows is no k3s database:
  //    every rung runs (the salvage may still find kine's pages), and the advice is a backup.
  let empty: string | null = null;
  const integrity = await timed("integrity", async () => {
    const m = tryMeasure(work);
    if ("error" in m) return rung("integrity", { state: "failed", error: m.error, integrity: m.error });
    if (m.integrity === "ok" && m.rows === 0) {
      empty =
        (await stat(work)).size === 0
          ? `${sourceName} is empty (0 bytes)`
          : m.kine
            ? `${sourceName}'s kine table holds no rows`
            : `${sourceName} holds no kine table`;
      return rung("integrity", {
        state: "failed",
        rows: 0,
        integrity: m.integrity,
        error: `${empty}: it passes integrity_check, but holds no k3s data.`,
      });
    }
    const r = rung("integrity", {
      state: m.integrity === "ok" ? "ok" : "failed",
      rows: m.rows,
      revisions: m.revisions,
      integrity: m.integrity,
      output: m.integrity === "ok" ? work : null,
    });
    if (m.integrity !== "ok") return r;
    // SQLite finds the file whole; kine's own copies of each value may still disagree, or a value
    // may end on a zeroed page SQLite reads as data: the salvage's scan finds those pages.
    const scan = await salvageKineDatabase(work, null).catch(() => null);
    const s = await auditOnWorker(work, scan?.fileDoubts ?? new Map(), false).catch(() => null);
    if (s && s.repaired + s.dropped > 0) {
      r.state = "partial";
      r.soundness = s;
      r.note = `integrity_check passes, but ${n(s.repaired + s.dropped)} rows disagree with kine's own copies of them: the file is damaged where SQLite does not look. Every rung runs.`;
    }
    return r;
  });
  const nothingToRecover = integrity.state === "ok" ? "integrity_check passed and every row agrees with kine's copies: nothing to recover" : null;

  // 3. .dump through the sqlite3 shell, with the ROLLBACK fix.
  await timed("dump", async () => {
    if (!cli) return rung("dump", { skippedReason: "the sqlite3 shell is not installed (apt-get install sqlite3)" });
    if (nothingToRecover) return rung("dump", { skippedReason: nothingToRecover });
    const out = path.join(dir, "dump.db");
    const res = await dumpInto(work, out);
    // A dump imported into a full disk holds fewer rows, or none: that is no rung's result.
    await refuseFailedWrite(".dump", res.importStderr, out, root);
    const m = tryMeasure(out);
    if ("error" in m || m.rows === 0)
      return rung("dump", {
        state: "failed",
        rows: 0,
        error: res.dumpStderr.split("\n")[0] || res.importStderr.split("\n")[0] || ("error" in m ? m.error : "the dump held no kine rows"),
        output: null,
      });
    try {
      ensureKineSchema(out);
    } catch (err) {
      if (isNoSpace(err)) throw err;
      // Rows a damaged UNIQUE index let in (two of one name and prev_revision) keep kine's index from
      // being built: not a kine database to restore. The other rungs still run.
      return rung("dump", { state: "failed", rows: 0, error: `kine's indexes cannot be built on the dump: ${(err as Error).message}`, output: null });
    }
    const m2 = measure(out);
    return rung("dump", {
      state: m2.integrity === "ok" ? (res.hadErrors ? "partial" : "ok") : "failed",
      rows: m2.rows,
      revisions: m2.revisions,
      integrity: m2.integrity,
      output: out,
      note: res.hadErrors
        ? 'The dump hit damage and ended in "ROLLBACK; -- due to errors"; it was imported with COMMIT instead, keeping every row it could read.'
        : null,
    });
  });

  // 4. .recover, only where the shell's works.
  await timed("recover", async () => {
    if (!cli) return rung("recover", { skippedReason: "the sqlite3 shell is not installed" });
    if (nothingToRecover) return rung("recover", { skippedReason: nothingToRecover });
    if (recoverBroken) return rung("recover", { skippedReason: recoverBroken });
    const out = path.join(dir, "recover.db");
    const res = await recoverInto(work, out);
    await refuseFailedWrite(".recover", res.importStderr, out, root);
    try {
      const db = new Database(out);
      try {
        db.exec(KINE_SCHEMA_SQL);
        // Rows .recover could not place in their table land in lost_and_found; kine's have 9 fields.
        if (db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'lost_and_found'").get())
          db.exec(`INSERT OR IGNORE INTO kine (id, name, created, deleted, create_revision, prev_revision, lease, value, old_value)
                   SELECT id, c1, c2, c3, c4, c5, c6, c7, c8 FROM lost_and_found WHERE nfield = 9 AND id IS NOT NULL AND typeof(c1) = 'text'`);
      } finally {
        db.close();
      }
      const m = measure(out);
      return rung("recover", {
        state: m.integrity === "ok" && m.rows > 0 ? "ok" : "failed",
        rows: m.rows,
        revisions: m.revisions,
        integrity: m.integrity,
        output: out,
      });
    } catch (err) {
      if (isNoSpace(err)) throw err;
      return rung("recover", { state: "failed", error: `${(err as Error).message}${res.recoverStderr ? ` (${res.recoverStderr.split("\n")[0]})` : ""}` });
    }
  });

  // 5. Lifeboat's own salvage, page by page. Its result may hold rows it could read only in part
  //    (`doubts`); the kine check completes or drops them. It also says which rows of the file
  //    itself sit on damaged pages (`fileDoubts`), for the other rungs' results.
  let salvageDoubts: KineDoubts = new Map();
  let fileDoubts: KineDoubts = new Map();
  await timed("salvage", async () => {
    if (nothingToRecover) return rung("salvage", { skippedReason: nothingToRecover });
    const out = path.join(dir, "salvage.db");
    try {
      const {
        doubts,
        fileDoubts: inFile,
        written: _written,
        ...s
      } = await salvageKineDatabase(work, out, { onProgress: (_phase, done, total) => job.progress(done, total) });
      salvageDoubts = doubts;
      fileDoubts = inFile;
      report.salvage = s;
      const m = measure(out);
      const d = s.dropped;
      return rung("salvage", {
        state: m.integrity === "ok" && m.rows > 0 ? "ok" : "failed",
        rows: m.rows,
        revisions: m.revisions,
        integrity: m.integrity,
        output: out,
        note: `page size ${s.pageSize} (${s.pageSizeSource}); kine tree ${s.kineTree.rootSource === "none" ? "not found" : `${s.kineTree.rootSource}${s.kineTree.complete ? ", complete" : ", damaged"}`}; ${s.leafPages.reachable} leaf pages in the tree, ${s.leafPages.orphan} orphaned, ${s.leafPages.free} free; dropped ${d.duplicates} duplicate copies, ${d.onFreePages + d.outsideTree} rows from stale pages, ${d.compacted} compacted rows, ${d.incomplete} rows whose name or revisions were on a damaged page; ${s.damagedRows} rows with a damaged value or old_value left to the kine check`,
      });
    } catch (err) {
      if (isNoSpace(err)) throw err;
      return rung("salvage", { state: "failed", error: (err as Error).message });
    }
  });

  // 6. The kine check of every result: repaired and dropped in place, then counted again.
  await timed("kine-check", async () => {
    if (nothingToRecover) return rung("kine-check", { skippedReason: nothingToRecover });
    const notes: string[] = [];
    for (const r of report.rungs) {
      if (!["integrity", "dump", "recover", "salvage"].includes(r.name) || !r.output || r.integrity !== "ok") continue;
      if (r.name === "integrity") {
        // The other rungs read work.db: the check repairs a copy of it.
        r.output = path.join(dir, "integrity.db");
        await copyFile(work, r.output);
      }
      try {
        const s = await auditOnWorker(r.output, r.name === "salvage" ? salvageDoubts : fileDoubts, true);
        if (!s) throw new Error("the result holds no kine table");
        const m = measure(r.output);
        Object.assign(r, { soundness: s, rows: m.rows, revisions: m.revisions, integrity: m.integrity });
        if (m.integrity !== "ok" || m.rows === 0) r.state = "failed";
        notes.push(`${r.label}: ${n(s.repaired)} repaired, ${n(s.dropped)} dropped of ${n(s.checked)}`);
      } catch (err) {
        if (isNoSpace(err)) throw err;
        // Unchecked rows may not be what kine wrote (the salvage's are partly unknown): not a candidate.
        Object.assign(r, { state: "failed", output: null, error: `The kine check failed: ${(err as Error).message}` });
        notes.push(`${r.label}: the check failed`);
      }
    }
    return rung("kine-check", {
      state: notes.length ? "ok" : "skipped",
      skippedReason: notes.length ? null : "no rung produced a database",
      note: notes.join("; ") || null,
    });
  });

  // The best result: passes integrity_check and the kine check, most sound rows (ties: the order of the ladder).
  const candidates = report.rungs.filter(
    (r) =>
      ["integrity", "dump", "recover", "salvage"].includes(r.name) &&
      r.output &&
      r.integrity === "ok" &&
      (r.rows ?? 0) > 0 &&
      (nothingToRecover !== null || r.soundness !== null),
  );
  const best = candidates.sort((a, b) => (b.rows ?? 0) - (a.rows ?? 0))[0];
  if (best) report.best = { rung: best.name, path: best.output!, rows: best.rows!, revisions: best.revisions };
  save();

  // 7. Compare with the newest good backup; without a result, still check it, so the advice can name it.
  job.step("compare");
  const t0 = performance.now();
  const compareRung = rung("compare");
  if (req.compareWith === "none") compareRung.skippedReason = "not requested";
  else {
    let sources: RestoreSource[] = [];
    try {
      sources = req.compareWith === "newest" ? await newestBackups(deps) : [req.compareWith];
      if (!sources.length) compareRung.skippedReason = "there is no backup in the store to compare with";
    } catch (err) {
      compareRung.skippedReason = `the backup store cannot be listed: ${(err as Error).message}`;
    }
    const errors: string[] = [];
    for (const source of sources) {
      const cmpDir = path.join(dir, `compare-${errors.length}`);
      try {
        await rm(cmpDir, { recursive: true, force: true });
        await mkdir(cmpDir, { mode: 0o700 });
        const src = await resolveSource(deps, source);
        const staged = await stageBackup(src, { stagingDir: cmpDir, passphrase: () => readPassphrase(cfg), maxBytes: cfg.restoreMaxBytes, durable: false });
        const m = measure(staged.dbPath);
        if (m.integrity !== "ok") throw new Error(`its database fails integrity_check (${m.integrity})`);
        if (m.rows === 0) throw new Error("its database holds no kine rows");
        report.comparison.backup = src.description;
        report.comparison.backupTakenAt = src.takenAt?.toISOString() ?? null;
        if (report.best) {
          report.comparison.diff = diffKineDatabases(report.best.path, staged.dbPath, {
            currentLabel: `recovered database (${report.best.rung})`,
            candidateLabel: src.description,
            candidateTakenAt: src.takenAt,
            subject: "Choosing the backup over the recovered database",
          });
          compareRung.note = report.comparison.diff.summary;
        } else compareRung.note = `${src.description} passes integrity_check and holds ${n(m.rows)} rows; no rung recovered a database to compare it with.`;
        compareRung.state = "ok";
        break;
      } catch (err) {
        errors.push(`${"setId" in source ? source.setId : JSON.stringify(source)}: ${(err as Error).message}`);
      } finally {
        await rm(cmpDir, { recursive: true, force: true });
      }
    }
    if (compareRung.state !== "ok" && errors.length) {
      compareRung.state = "failed";
      compareRung.error = errors.join("; ");
      report.comparison.error = `No backup could be compared: ${compareRung.error}`;
    }
  }
  compareRung.millis = Math.round(performance.now() - t0);
  report.rungs.push(compareRung);
  job.detail(
    "compare",
    compareRung.state === "skipped" ? `skipped: ${compareRung.skippedReason}` : (compareRung.note ?? compareRung.error ?? compareRung.state),
  );

  report.recommendation = recommend(report, empty);
  report.finishedAt = new Date().toISOString();
  // Only the results stay: the databases the rungs produced (the best among them), not the copies
  // they worked on (work.db, unless integrity_check found it whole) nor what a failed rung left.
  const results = new Set(report.rungs.flatMap((r) => (r.name !== "copy" && r.state !== "failed" && r.output ? [r.output] : [])));
  if (report.best) results.add(report.best.path);
  await removeAllBut(dir, results);
  for (const r of report.rungs) if (r.output && !results.has(r.output)) r.output = null;
  save();
  releaseRecovery(dir);
  return report;
}

function recommend(r: RecoveryReport, empty: string | null): string {
  const s = r.best ? r.rungs.find((x) => x.name === r.best!.rung)?.soundness : null;
  const checked =
    s && s.repaired + s.dropped > 0
      ? ` The kine check put back ${n(s.repaired)} damaged row${s.repaired === 1 ? "" : "s"} from kine's own copies and dropped ${n(s.dropped)} it could not trust (listed in the report).`
      : "";
  return advice(r, empty) + checked;
}

function advice(r: RecoveryReport, empty: string | null): string {
  const integrity = r.rungs.find((x) => x.name === "integrity");
  if (integrity?.state === "ok")
    return r.wal.foreign
      ? "The database file is intact on its own; the WAL next to it does not belong to it. Restore this recovery (it is the file without that WAL), or move the WAL aside with k3s stopped."
      : "The database passes integrity_check: there is nothing to recover.";
  if (!r.best) {
    const backup = r.comparison.backup ? `: ${r.comparison.backup}, which passes integrity_check` : "";
    if (empty) return `${empty}, so no rung can get kine's rows back from it: restore the newest good backup${backup}.`;
    return `No rung produced a usable database. Restore the newest good backup${backup}.`;
  }
  const rows = `${n(r.best.rows)} rows${r.best.revisions ? ` (revisions ${n(r.best.revisions.min)}–${n(r.best.revisions.max)})` : ""}`;
  const restoreIt = `\`lifeboat-agent restore recovery:${r.id}\``;
  const d = r.comparison.diff;
  if (!d)
    return `The ${r.best.rung} rung recovered ${rows}. No backup was compared${r.comparison.error ? ` (${r.comparison.error})` : ""}; restore it with ${restoreIt} if that is all you have.`;
  const onlyRecovered = d.objectsLost;
  const onlyBackup = d.byType.filter((t) => t.type !== "leases" && t.type !== "events").reduce((s, t) => s + t.onlyInCandidate, 0);
  if (onlyBackup === 0 && onlyRecovered > 0)
    return `The ${r.best.rung} rung recovered ${rows}, including ${objects(onlyRecovered)} newer than the backup and nothing the backup has that it lacks: restore it with ${restoreIt}.`;
  if (onlyRecovered === 0)
    return `The ${r.best.rung} rung recovered ${rows}, but it holds nothing the backup (${r.comparison.backup}) lacks${onlyBackup ? ` and misses ${objects(onlyBackup)} the backup has` : ""}: restore the backup.`;
  return `The ${r.best.rung} rung recovered ${rows}: ${objects(onlyRecovered)} newer than in the backup, but ${objects(onlyBackup)} of the backup missing from it. Compare the lists and choose: restore it with ${restoreIt}, or restore the backup.`;
}

/**
 * POST /recoveries and `lifeboat-agent recover`: starts the ladder as a job (group "datastore", so it
 * never overlaps a restore of this process; the datastore lock keeps other processes' restores off
 * the copy). Throws JobRunningError.
 */
export function startRecoveryJob(deps: AgentDeps, req: StartRecoveryRequest): { id: string; recoveryId: string; done: Promise<Job> } {
  const recoveryId = `rec-${newRestoreId()}`;
  const log = deps.log.child({ component: "recovery", recoveryId });
  const started = deps.jobs.start<RecoveryReport>({
    type: "recovery",
    group: "datastore",
    steps: RECOVERY_STEPS.map((s) => ({ name: s.name, label: s.label })),
    run: (job) => runRecovery(deps, req, job, recoveryId),
    onFinish: (job) => log.info({ jobId: job.id, state: job.state }, "recovery finished"),
  });
  return { id: started.id, recoveryId, done: started.done };
}
