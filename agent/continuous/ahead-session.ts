import type Database from "better-sqlite3";
import { forEachStatement } from "./segment-format";

/**
 * The database side of applying the log ahead (apply-ahead.ts): while the base set is still being
 * staged, the trailing run of the log's segments is applied on a SQLite worker to a scratch database
 * of its own, SQLite's private temporary file (opened as "", removed by SQLite when closed and unlinked
 * from the start, so no crash leaves it behind). Once the staged base has caught up to the run's
 * start, its rows are copied over in one INSERT … SELECT ("merge").
 *
 * What makes the copy the same database as applying the segments one by one to the staged base:
 * - Only rows above `after` (the revision the run follows) are copied: a row the staged database's
 *   `WHERE id > MAX(id)` guard would have skipped is at or below it (the run's rows rise, as the guard
 *   needs them to in either database).
 * - A row whose old_value is the sub-select of its previous row reads that row in the scratch when
 *   it is in the run. When the previous row is at or below `after` (in the base), the scratch gave
 *   NULL: such rows are listed while their segment is applied (read off the text: a statement ending
 *   in the sub-select, see segment-format.ts) and their old_value is read again from the staged
 *   database after the copy, as the segment would have read it there.
 * - The scratch's columns are declared without a type: it stores the literals as the text gives them,
 *   and the copy into the staged kine table applies that table's own column affinities, as the INSERT
 *   into it would have.
 * - The staged table's AUTOINCREMENT counter is moved as far as the run's inserts would have moved it.
 * - A compacted object's rows go into the scratch; its tail (the DELETEs of what its window's
 *   compaction removed, and the counter's UPDATE) comes back to run on the staged database after the
 *   copy and the old_value reads (readText).
 */

export type LogAheadStep =
  /** A new scratch database under `id`, for a run that follows revision `after`. */
  | { op: "open"; id: string; after: number }
  /**
   * Runs segments' texts in order, each its own transaction; stops at the first SQLite refuses (rolled
   * back). Of a compacted object (`compacted[i]`) only the rows: its tail is handed back.
   */
  | { op: "exec"; id: string; sqls: string[]; compacted: boolean[] }
  /** Copies the rows in (after, upTo] into the staged database at `into`, then rebuilds the listed old_values there. */
  | { op: "merge"; id: string; into: string; upTo: number }
  /** Closes the scratch (SQLite removes it). Never throws. */
  | { op: "close"; id: string };

export interface LogAheadResult {
  /** "exec": how many of the texts were applied (the rest were not run). */
  applied?: number;
  /** "exec": for each applied text, its statements other than rows (a compacted object's DELETEs and UPDATE), not run here. */
  tails?: string[][];
  /** "exec": for each applied text, how many row INSERTs it held. */
  rowStatements?: number[];
  /** "exec": SQLite's refusal of the next one. */
  error?: string;
  /** "merge": rows copied. */
  rows?: number;
}

interface Ahead {
  db: Database.Database;
  after: number;
  /** Rows whose old_value must be read again in the staged database (their previous row is at or below `after`). */
  reread: number[];
  /** MAX(id) the run's inserts reached (the AUTOINCREMENT counter they would have set); null: none yet. */
  maxId: number | null;
}

const scratches = new Map<string, Ahead>();

// The end of a statement whose old_value is the previous row's value: the only place this text occurs outside a
// string literal (a carried old_value is NULL, X'…' or CAST('…' AS BLOB), none of which ends in `id = N)`).
const REBUILT_TAIL = /,\(SELECT value FROM kine WHERE id = (\d+)\) WHERE (\d+) > \(SELECT IFNULL\(MAX\(id\),0\) FROM kine\);\n$/;

/** One step on this thread. "merge" throws SQLite's error; "open" throws when the scratch cannot be made. */
export async function runLogAheadStep(step: LogAheadStep): Promise<LogAheadResult> {
  if (step.op === "open") {
    if (scratches.has(step.id)) throw new Error(`A scratch database ${step.id} is already open.`);
    const { default: Sqlite } = await import("better-sqlite3");
    const db = new Sqlite("");
    try {
      db.pragma("journal_mode = MEMORY");
      db.pragma("synchronous = OFF");
      db.pragma("temp_store = MEMORY");
      db.exec("CREATE TABLE kine (id INTEGER PRIMARY KEY AUTOINCREMENT, name, created, deleted, create_revision, prev_revision, lease, value, old_value)");
    } catch (err) {
      db.close();
      throw err;
    }
    scratches.set(step.id, { db, after: step.after, reread: [], maxId: null });
    return {};
  }
  const s = scratches.get(step.id);
  if (step.op === "close") {
    scratches.delete(step.id);
    try {
      s?.db.close();
    } catch {
      // Nothing of a scratch database outlives it.
    }
    return {};
  }
  if (!s) throw new Error(`No scratch database ${step.id} is open.`);
  if (step.op === "exec") {
    let applied = 0;
    let error: string | undefined;
    const tails: string[][] = [];
    const rowStatements: number[] = [];
    for (const [k, sql] of step.sqls.entries()) {
      const text = readText(sql, s.after);
      try {
        if (!step.compacted[k]) s.db.exec(sql);
        else if (text.tail.some((t) => !TAIL.test(t))) throw new Error("a statement that is not a compacted object's tail");
        else s.db.transaction(() => s.db.exec(text.rows.join("")))();
      } catch (err) {
        if (s.db.inTransaction) s.db.exec("ROLLBACK");
        error = (err as Error).message;
        break;
      }
      s.reread.push(...text.reread);
      // A plain segment's other statements (none are written) ran with it above.
      tails.push(step.compacted[k] ? text.tail : []);
      rowStatements.push(text.rows.length);
      applied++;
    }
    s.maxId = (s.db.prepare("SELECT MAX(id) FROM kine WHERE id > ?").pluck().get(s.after) as number | null) ?? null;
    return error === undefined ? { applied, tails, rowStatements } : { applied, tails, rowStatements, error };
  }
  return { rows: merge(s, step.into, step.upTo) };
}

/** The statements of a compacted object's tail (compaction.ts); any other statement keeps the object for the walk. */
const TAIL =
  /^(DELETE FROM kine WHERE id (BETWEEN \d+ AND \d+ AND id NOT IN|IN) \(|UPDATE sqlite_sequence SET seq = \d+ WHERE name = 'kine' AND seq < \d+;\n$)/;

/**
 * One text read statement by statement (forEachStatement steps over literals): its row INSERTs, its
 * other statements, and the rows whose old_value names a row at or below `after` (REBUILT_TAIL).
 *
 * A compacted object's other statements are its tail: the DELETEs of what its window's compaction
 * removed, below and inside the window, and the counter's UPDATE. The tail is run on the staged
 * database after the copy (apply.ts), in order: what it deletes is at or below its own window, and no
 * later row names such a row in a sub-select (the shipper read those rows after kine had removed it,
 * so it carried their old_value instead), so running it after the later rows are in gives the same
 * database.
 */
function readText(sql: string, after: number): { rows: string[]; tail: string[]; reread: number[] } {
  const rows: string[] = [];
  const tail: string[] = [];
  const reread: number[] = [];
  forEachStatement(sql, (start, end) => {
    if (!sql.startsWith("INSERT INTO kine(", start)) {
      tail.push(sql.slice(start, end));
      return;
    }
    rows.push(sql.slice(start, end));
    // The end is short: the sub-select and the guard, after the last literal.
    const m = REBUILT_TAIL.exec(sql.slice(Math.max(start, end - 160), end));
    if (m && Number(m[1]) <= after) reread.push(Number(m[2]));
  });
  return { rows, tail, reread };
}

const COLUMNS = "id, name, created, deleted, create_revision, prev_revision, lease, value, old_value";

function merge(s: Ahead, into: string, upTo: number): number {
  const { db } = s;
  db.prepare("ATTACH DATABASE ? AS staged").run(into);
  try {
    // As the staged database's own connection writes it (apply-session.ts): no journal file, no fsync
    // (the restore fsyncs the file once the log is applied).
    db.pragma("staged.journal_mode = MEMORY");
    db.pragma("staged.synchronous = OFF");
    let rows = 0;
    db.transaction(() => {
      rows = db
        .prepare(`INSERT INTO staged.kine (${COLUMNS}) SELECT ${COLUMNS} FROM main.kine WHERE id > ? AND id <= ? ORDER BY id`)
        .run(s.after, upTo).changes;
      const reread = db.prepare(
        "UPDATE staged.kine SET old_value = (SELECT p.value FROM staged.kine AS p WHERE p.id = staged.kine.prev_revision) WHERE id = ? AND id > ?",
      );
      // Only rows the copy brought (above the run's start): a listed row the guard had skipped names no row of the run.
      for (const id of s.reread) if (id <= upTo) reread.run(id, s.after);
      // The run's INSERTs would have moved the counter to their highest id (the restore's finish step then
      // brings it down to the point); the copy stopped at upTo.
      if (s.maxId !== null) db.prepare("UPDATE staged.sqlite_sequence SET seq = ? WHERE name = 'kine' AND seq < ?").run(s.maxId, s.maxId);
    })();
    return rows;
  } finally {
    db.exec("DETACH DATABASE staged");
  }
}
