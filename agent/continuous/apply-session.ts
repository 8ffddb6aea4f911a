import type Database from "better-sqlite3";
import { KINE_COMPACT_SQL, KINE_SET_COMPACT_REV_SQL } from "../kine/schema";

/**
 * The database side of a log apply (apply.ts): the staged database open on the thread that runs it,
 * which is a SQLite worker (agent/sqlite/tasks.ts, task "log-apply") so that the main thread fetches,
 * decrypts and decompresses the next segments while SQLite applies this one. Each call is one
 * synchronous step; the connection lives from "open" to "close" in this module, by database path.
 */

export type LogApplyStep =
  /** Opens the staged database; with `maxBytes`, SQLite refuses to grow it past that (SQLITE_FULL). */
  | { op: "open"; dbPath: string; maxBytes?: number }
  /** Before the first segment: `rowsAhead` is how many rows the log may bring (apply.ts, logRowsAhead). */
  | { op: "bulk"; dbPath: string; rowsAhead: number }
  /** Runs segments' SQL texts, in order (each its own BEGIN … COMMIT). */
  | { op: "exec"; dbPath: string; sqls: string[] }
  /**
   * Drops rows above `target`, builds dropped indexes again, compacts to `compact` when the database is
   * below it, then deletes the rows `drop` names (ghosts of the run applied ahead, ahead-session.ts).
   */
  | { op: "finish"; dbPath: string; target: number; compact: number; drop?: number[] }
  /** Closes the connection (also after a failure; a rollback of an open transaction). */
  | { op: "close"; dbPath: string };

/** What "open" and "finish" answer: MAX(id) and the compact revision of compact_rev_key. */
export interface LogApplyPosition {
  revision: number;
  compact: number;
  /** "finish": how many of kine's indexes it built again after a bulk load (0: none were dropped). */
  indexesRebuilt?: number;
}

interface Session {
  db: Database.Database;
  /** Indexes dropped for a bulk load, built again by "finish". */
  dropped: KineIndex[];
}

const sessions = new Map<string, Session>();

/** One step of a log apply on this thread. Throws SQLite's error of the step; "close" never throws. */
export async function runLogApplyStep(step: LogApplyStep): Promise<LogApplyPosition | null> {
  if (step.op === "open") return open(step.dbPath, step.maxBytes);
  const s = sessions.get(step.dbPath);
  if (step.op === "close") {
    sessions.delete(step.dbPath);
    try {
      s?.db.close();
    } catch {
      // Closing rolls back an open transaction; nothing else can fail here that matters to a scratch file.
    }
    return null;
  }
  if (!s) throw new Error(`No log apply is open on ${step.dbPath}.`);
  if (step.op === "bulk") {
    if (s.dropped.length === 0) s.dropped = dropIndexesForBulk(s.db, step.rowsAhead);
    return null;
  }
  if (step.op === "exec") {
    for (const sql of step.sqls) s.db.exec(sql);
    return null;
  }
  const indexesRebuilt = finish(s, step.target, step.compact, step.drop ?? []);
  return { ...position(s.db), indexesRebuilt };
}

async function open(dbPath: string, maxBytes?: number): Promise<LogApplyPosition> {
  if (sessions.has(dbPath)) throw new Error(`A log apply is already open on ${dbPath}.`);
  const { default: Sqlite } = await import("better-sqlite3");
  const db = new Sqlite(dbPath);
  try {
    // The rollback journal in memory: a segment that fails halfway still rolls back, and no journal
    // file is created, written with every page the segment touches, and deleted, once per segment
    // (the log's SQL ran 1.5× faster). The staged file is scratch until the restore has verified it:
    // a process killed while applying leaves the phase "staging", which drops it (agent/restore/resume.ts).
    db.pragma("journal_mode = MEMORY");
    // No fsync per segment: the one after the last (apply.ts, `durable`) makes all of it durable at once.
    db.pragma("synchronous = OFF");
    // A segment's INSERT … SELECT can stop halfway (kine's UNIQUE index), so SQLite keeps a statement
    // journal for each one; in a temp file that is ~10 writes a row, in memory (one row's pages) it is
    // none: the log's SQL runs 2.4× faster.
    db.pragma("temp_store = MEMORY");
    // The room staging has on its disk (stage-point.ts): past it SQLite answers "database or disk is
    // full" instead of taking the free space staging leaves for k3s.
    if (maxBytes !== undefined) limitPages(db, "main", maxBytes);
    const s: Session = { db, dropped: [] };
    sessions.set(dbPath, s);
    return position(db);
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Caps the pages of `schema` (main, or an attached database) so that its file stays within `maxBytes` (never below its size: SQLite keeps the larger). */
export function limitPages(db: Database.Database, schema: string, maxBytes: number): void {
  const pageSize = db.pragma(`${schema}.page_size`, { simple: true }) as number;
  db.pragma(`${schema}.max_page_count = ${Math.max(1, Math.floor(maxBytes / pageSize))}`);
}

function position(db: Database.Database): LogApplyPosition {
  return {
    revision: (db.prepare("SELECT IFNULL(MAX(id), 0) FROM kine").pluck().get() as number) ?? 0,
    compact: (db.prepare("SELECT IFNULL(MAX(prev_revision), 0) FROM kine WHERE name = 'compact_rev_key'").pluck().get() as number) ?? 0,
  };
}

/** Returns how many dropped indexes it built again. */
function finish(s: Session, target: number, compact: number, drop: number[]): number {
  const { db } = s;
  const dropped = s.dropped.splice(0);
  // Index sorts spill to a temp file past SQLite's cache instead of to memory, so a day of log rows
  // does not take the process's memory.
  if (dropped.length) db.pragma("temp_store = FILE");
  db.transaction(() => {
    db.prepare("DELETE FROM kine WHERE id > ?").run(target);
    db.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = 'kine' AND seq > ?").run(target, target);
    // After the rows above the point are gone (a rowid range: no index needed), with the same CREATE
    // statements: the UNIQUE ones first, over every row the log brought (a duplicate fails here as its
    // INSERT would have), then kine's compaction, then the others over the rows it left. The
    // compaction finds its rows by rowid and needs no other index; deleting each row from six indexes
    // instead of one, and building five of them over every row it then deletes, was half this step
    // (a point 5 minutes after a fold: 55-64 ms -> 27-31 ms, bench/continuous.ts).
    const unique = dropped.filter((ix) => /^CREATE\s+UNIQUE\b/i.test(ix.sql));
    for (const ix of unique) db.exec(ix.sql);
    const now = (db.prepare("SELECT IFNULL(MAX(prev_revision), 0) FROM kine WHERE name = 'compact_rev_key'").pluck().get() as number) ?? 0;
    if (compact > now) {
      db.prepare(KINE_COMPACT_SQL).run(compact, compact);
      db.prepare(KINE_SET_COMPACT_REV_SQL).run(compact);
    }
    // Ghosts the compaction did not delete (their deleting rows were left out of the scratch): every
    // ghost is a row it deletes when all of the run's rows are in.
    if (drop.length) db.prepare("DELETE FROM kine WHERE id IN (SELECT value FROM json_each(?))").run(JSON.stringify(drop));
    for (const ix of dropped) if (!unique.includes(ix)) db.exec(ix.sql);
  })();
  if (dropped.length) db.pragma("temp_store = MEMORY");
  return dropped.length;
}

/** An index of kine's as its schema names it, to be built again with its own CREATE statement. */
interface KineIndex {
  name: string;
  sql: string;
}

/**
 * A bulk load's indexes: when the log may bring more rows than the base holds, kine's indexes are
 * dropped before the first segment and built once after the last (finish), from the same
 * CREATE statements. Six B-trees updated row by row were half of the log's SQL; sorting them once
 * after costs ~4× less a row, and dropping a small base's indexes costs nothing. With a big base and
 * a short log they stay: rebuilding would cost the base's size. UNIQUE still holds: the unique
 * index's CREATE fails on a duplicate as the INSERT would have. Returns the dropped ones.
 */
function dropIndexesForBulk(db: Database.Database, rowsAhead: number): KineIndex[] {
  if (rowsAhead === 0) return [];
  const baseRows = db.prepare("SELECT count(*) FROM kine").pluck().get() as number;
  if (rowsAhead <= baseRows) return [];
  const indexes = db
    .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'kine' AND sql IS NOT NULL ORDER BY rowid")
    .all() as KineIndex[];
  db.transaction(() => {
    for (const ix of indexes) db.exec(`DROP INDEX "${ix.name.replaceAll('"', '""')}"`);
  })();
  return indexes;
}
