import type Database from "better-sqlite3";
import { forEachStatement } from "./segment-format";
import { limitPages } from "./apply-session";

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
 * - Rows that kine's compaction at the point removes anyway are left out, or go in without their
 *   values (below, "Rows the point's compaction removes"): the restore's compaction and its `drop`
 *   then remove exactly what they would have removed of the whole rows.
 *
 * Rows the point's compaction removes. A point restore ends with kine's compaction to the point's
 * compact revision C (apply-session.ts, finish): it deletes every row at or below C that a row at or
 * below C names as its prev_revision, and every tombstone at or below C. In a window not folded yet
 * that is most of the log (kine rewrites each lease every few seconds: at the end of a day's open
 * window 7,855 of 9,122 rows), and inserting each row's value (and reading its old_value) was most
 * of a point restore's time. So the scratch holds the run's texts until the run is complete ("exec"
 * reads them, "flush" applies them); it then knows, from the rows' names, flags and prev_revisions,
 * which of them the compaction at C deletes (ghostsAt). C is the compact revision of the held segments
 * (their last one at or below the point): never above the one the restore compacts to.
 * - A ghost that names a row which stays, or one of the base (a "witness"), goes in without its
 *   value and old_value: the compaction still finds it naming that row, and deletes the row; the
 *   restore then deletes the witness itself (apply-session.ts, `drop`), as the compaction would have
 *   once every row was in. Witnesses also take their place in kine's UNIQUE index against the base.
 * - Any other ghost (it names another ghost, or nothing) is left out: what it would delete is a ghost.
 * - A row that stays and whose old_value is the sub-select of a ghost gets the ghost's value literal.
 * - The AUTOINCREMENT counter moves to the held rows' highest id, left out or not.
 * Nothing is left out when a held row does not parse, the ids do not rise, a plain segment holds
 * another statement, or two held rows share a name and prev_revision (that duplicate must meet
 * kine's UNIQUE index in SQLite, as it would have): the texts then run as they are.
 */

export type LogAheadStep =
  /** A new scratch database under `id`, for a run that follows revision `after` (`eager`: see "exec"). */
  | { op: "open"; id: string; after: number; eager: boolean }
  /**
   * Reads segments' texts (in order). With `eager` (a run of compacted objects only: kine already
   * compacted their rows, so few are left out), they are applied at once, each its own transaction,
   * stopping at the first SQLite refuses (rolled back), and their SQL overlaps the decoding of the
   * rest; otherwise they are held for "flush". Of a compacted object only the rows run: its tail is
   * handed back.
   */
  | { op: "exec"; id: string; sqls: string[]; compacted: boolean[] }
  /**
   * Applies the held texts in order, each its own transaction; stops at the first SQLite refuses (rolled
   * back). Rows that kine's compaction to `compact` deletes are ghosts (above).
   */
  | { op: "flush"; id: string; compact: number }
  /** Copies the rows in (after, upTo] into the staged database at `into`, then rebuilds the listed old_values there. */
  | { op: "merge"; id: string; into: string; upTo: number; maxBytes?: number }
  /** Closes the scratch (SQLite removes it). Never throws. */
  | { op: "close"; id: string };

export interface LogAheadResult {
  /** "exec": for each text read, its statements other than rows (a compacted object's DELETEs and UPDATE), not run here. */
  tails?: string[][];
  /** "exec": for each text read, how many row INSERTs it held. */
  rowStatements?: number[];
  /** "exec": how many of the texts were applied at once (the first ones), the others being held; "flush": how many held texts were applied. */
  applied?: number;
  /** "exec", "flush": SQLite's refusal of the next text (it and those after it were not run or held). */
  error?: string;
  /** "flush": ghosts among the rows applied (witnesses and rows left out). */
  ghosts?: number;
  /** "merge": rows copied. */
  rows?: number;
  /** "merge": of them, the ghosts that went in (witnesses): the restore deletes them after its compaction. */
  witnesses?: number[];
}

/** A row statement, read as far as the compaction needs (null fields: not a statement formatSegment writes). */
interface HeldRow {
  sql: string;
  id: number;
  /** The name as its SQL literal ('' inside), null when the statement did not parse. */
  name: string | null;
  deleted: boolean;
  /** prev_revision; null when NULL (kine's compaction then takes nothing from it). */
  prev: number | null;
  /** Where the value literal begins in `sql`. */
  valueAt: number;
  /** The literals of id, name, created, deleted, create_revision, prev_revision and lease, as written. */
  head: string[];
  /** The row its old_value sub-select names (null: it carries its old_value), and where `,(SELECT` begins. */
  refs: number | null;
  refsAt: number;
}

interface HeldText {
  /** Rows and, in a plain segment, its other statements, in order. */
  items: (HeldRow | string)[];
  /** Why SQLite is not to run it (a compacted object whose tail has a statement of another shape). */
  refused?: string;
}

/**
 * What runs instead of a held row: a ghost (a witness goes in by ghostsInsert, any other is left out),
 * or a staying row with a ghost's value as its old_value.
 */
type Swapped = { ghost: "witness" | "left out" } | { sql: string };

interface Ahead {
  db: Database.Database;
  after: number;
  /** Whether compacted objects before any plain segment are applied at once ("exec"). */
  eager: boolean;
  /** Texts read by "exec", waiting for "flush". */
  held: HeldText[];
  /**
   * What the held texts allow, read as they come (ghostsAt): false once a row did not parse, the ids
   * did not rise (from above what exec applied), a plain segment held another statement, or two rows
   * shared a name and prev_revision (SQLite must meet that duplicate, as kine's UNIQUE index). Nothing
   * is then left out, of the held texts or of any first ones of them.
   */
  ghostable: boolean;
  /** The held rows' (prev_revision, name) pairs so far, and the last id. */
  pairs: Map<number | null, string | Set<string>>;
  lastId: number;
  /** MAX(id) when the first text was held: the rows exec applied at once, all below the held ones. */
  floor: number;
  /** Rows whose old_value must be read again in the staged database (their previous row is at or below `after`). */
  reread: number[];
  /** MAX(id) the run's inserts reached (the AUTOINCREMENT counter they would have set); null: none yet. */
  maxId: number | null;
}

const scratches = new Map<string, Ahead>();

// The end of a statement whose old_value is the previous row's value: the only place this text occurs outside a
// string literal (a carried old_value is NULL, X'…' or CAST('…' AS BLOB), none of which ends in `id = N)`).
const REBUILT_TAIL = /,\(SELECT value FROM kine WHERE id = (\d+)\) WHERE (\d+) > \(SELECT IFNULL\(MAX\(id\),0\) FROM kine\);\n$/;

// Witnesses GHOSTS_AT_ONCE at a time: each row's columns but its value and old_value, bound (columnsOf),
// not one statement each. Without the segment's guard, after the text's staying rows: ghosts are only
// made when the held rows' ids rise, so each row's guard holds either way, and a staying row's
// sub-select names an earlier staying row, which is in by then, or a ghost, whose value it then carries.
const GHOSTS_AT_ONCE = 256;
const ghostsInsert = (n: number) =>
  `INSERT INTO kine(id,name,created,deleted,create_revision,prev_revision,lease,ghost) VALUES ${Array(n).fill("(?,?,?,?,?,?,?,1)").join(",")}`;
// A row as formatSegment writes it, up to its value: id, name, created, deleted, create_revision, prev_revision, lease.
const ROW_HEAD =
  /INSERT INTO kine\(id,name,created,deleted,create_revision,prev_revision,lease,value,old_value\) SELECT (\d+),('(?:[^']|'')*'),(-?\d+|NULL),(-?\d+|NULL),(-?\d+|NULL),(-?\d+|NULL),(-?\d+|NULL),/y;

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
      // `ghost` marks the witnesses, put in without their values (the column is never copied: the merge names kine's).
      db.exec(
        "CREATE TABLE kine (id INTEGER PRIMARY KEY AUTOINCREMENT, name, created, deleted, create_revision, prev_revision, lease, value, old_value, ghost)",
      );
    } catch (err) {
      db.close();
      throw err;
    }
    scratches.set(step.id, {
      db,
      after: step.after,
      eager: step.eager,
      held: [],
      ghostable: true,
      pairs: new Map(),
      lastId: 0,
      floor: 0,
      reread: [],
      maxId: null,
    });
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
    const tails: string[][] = [];
    const rowStatements: number[] = [];
    let applied = 0;
    for (const [k, sql] of step.sqls.entries()) {
      const text = readText(sql, step.compacted[k]);
      if (s.eager && step.compacted[k] && s.held.length === 0) {
        try {
          if (text.refused) throw new Error(text.refused);
          const rows = text.items as HeldRow[];
          s.db.transaction(() => s.db.exec(rows.map((r) => r.sql).join("")))();
          for (const r of rows) if (r.refs !== null && r.refs <= s.after) s.reread.push(r.id);
        } catch (err) {
          s.maxId = maxAbove(s);
          return { tails, rowStatements, applied, error: (err as Error).message };
        }
        applied++;
      } else {
        if (s.held.length === 0) s.floor = s.lastId = (s.db.prepare("SELECT MAX(id) FROM kine").pluck().get() as number | null) ?? 0;
        s.held.push({ items: text.items, ...(text.refused ? { refused: text.refused } : {}) });
        if (s.ghostable) s.ghostable = mayLeaveOut(s, text.items);
      }
      tails.push(text.tail);
      rowStatements.push(text.rows);
    }
    s.maxId = maxAbove(s);
    return { tails, rowStatements, applied };
  }
  if (step.op === "flush") return flush(s, step.compact);
  return merge(s, step.into, step.upTo, step.maxBytes);
}

/** The statements of a compacted object's tail (compaction.ts); any other statement keeps the object for the walk. */
const TAIL =
  /^(DELETE FROM kine WHERE id (BETWEEN \d+ AND \d+ AND id NOT IN|IN) \(|UPDATE sqlite_sequence SET seq = \d+ WHERE name = 'kine' AND seq < \d+;\n$)/;

/** A compacted object whose other statements are not a tail: it cannot be applied ahead. */
const NOT_A_TAIL = "a statement that is not a compacted object's tail";

/**
 * One text read statement by statement (forEachStatement steps over literals): its rows (ROW_HEAD and
 * REBUILT_TAIL read each one's fields) and other statements.
 *
 * A compacted object's other statements are its tail: the DELETEs of what its window's compaction
 * removed, below and inside the window, and the counter's UPDATE. The tail is run on the staged
 * database after the copy (apply.ts), in order: what it deletes is at or below its own window, and no
 * later row names such a row in a sub-select (the shipper read those rows after kine had removed it,
 * so it carried their old_value instead), so running it after the later rows are in gives the same
 * database. A plain segment's other statements (none are written) stay in place, to run with its rows.
 */
function readText(sql: string, compacted: boolean): HeldText & { tail: string[]; rows: number } {
  const items: (HeldRow | string)[] = [];
  const tail: string[] = [];
  let rows = 0;
  forEachStatement(sql, (start, end) => {
    const stmt = sql.slice(start, end);
    if (!sql.startsWith("INSERT INTO kine(", start)) {
      if (compacted) tail.push(stmt);
      else items.push(stmt);
      return;
    }
    rows++;
    items.push(readRow(stmt));
  });
  // Its rows are held, the tail comes back; a tail of another shape refuses the object at "flush".
  return { items, tail, rows, ...(compacted && tail.some((t) => !TAIL.test(t)) ? { refused: NOT_A_TAIL } : {}) };
}

function readRow(sql: string): HeldRow {
  ROW_HEAD.lastIndex = 0;
  const h = ROW_HEAD.exec(sql);
  // The end is short: the sub-select and the guard, after the last literal.
  const from = Math.max(0, sql.length - 160);
  const m = REBUILT_TAIL.exec(sql.slice(from));
  const refs = m ? Number(m[1]) : null;
  const refsAt = m ? from + m.index : -1;
  if (!h) return { sql, id: m ? Number(m[2]) : 0, name: null, deleted: false, prev: null, valueAt: -1, head: [], refs, refsAt };
  const num = (t: string) => (t === "NULL" ? null : Number(t));
  const id = Number(h[1]);
  // Past 2^53 a number is not the integer written: such a row is never left without its value.
  const exact = [h[1], h[3], h[4], h[5], h[6], h[7]].every((t) => t === "NULL" || Number.isSafeInteger(Number(t)));
  return {
    sql,
    id,
    name: exact ? h[2] : null,
    deleted: (num(h[4]) ?? 0) !== 0,
    prev: num(h[6]),
    valueAt: ROW_HEAD.lastIndex,
    head: h.slice(1, 8),
    refs,
    refsAt,
  };
}

/** Where the literal (NULL, X'…' or CAST('…' AS BLOB)) that begins at `at` ends; -1 when there is none. */
function literalEnd(sql: string, at: number): number {
  if (sql.startsWith("NULL", at)) return at + 4;
  if (sql.startsWith("X'", at)) {
    const q = sql.indexOf("'", at + 2);
    return q === -1 ? -1 : q + 1;
  }
  if (!sql.startsWith("CAST('", at)) return -1;
  for (let j = at + 6; ;) {
    const q = sql.indexOf("'", j);
    if (q === -1) return -1;
    if (sql[q + 1] === "'") j = q + 2;
    else return sql.startsWith(" AS BLOB)", q + 1) ? q + 10 : -1;
  }
}

const guard = (id: number) => ` WHERE ${id} > (SELECT IFNULL(MAX(id),0) FROM kine);\n`;

/** Whether rows may still be left out once `items` are held too (Ahead.ghostable). */
function mayLeaveOut(s: Ahead, items: (HeldRow | string)[]): boolean {
  for (const r of items) {
    if (typeof r === "string" || r.name === null || r.id <= s.lastId) return false;
    s.lastId = r.id;
    const seen = s.pairs.get(r.prev);
    if (seen === undefined) s.pairs.set(r.prev, r.name);
    else if (typeof seen === "string") {
      // Many rows name no previous row (0: a key's first version), one per name.
      if (seen === r.name) return false;
      s.pairs.set(r.prev, new Set([seen, r.name]));
    } else if (seen.has(r.name)) return false;
    else seen.add(r.name);
  }
  return true;
}

/**
 * The held rows that kine's compaction to `compact` deletes (module comment), and what runs instead of
 * the rows that stay and name one of them in their old_value's sub-select; nothing when `ghostable`
 * is false.
 */
function ghostsAt(held: HeldText[], ghostable: boolean, after: number, compact: number): Map<HeldRow, Swapped> {
  const out = new Map<HeldRow, Swapped>();
  if (!ghostable) return out;
  const rows = held.flatMap((t) => t.items as HeldRow[]);
  const counts = (r: HeldRow) => r.id > after && r.id <= compact && r.name !== "'compact_rev_key'";
  const named = new Set<number>();
  for (const r of rows) if (counts(r) && r.prev !== null && r.prev !== 0) named.add(r.prev);
  const ghosts = new Map<number, HeldRow>();
  for (const r of rows) if (counts(r) && (r.deleted || named.has(r.id))) ghosts.set(r.id, r);
  if (ghosts.size === 0) return out;
  for (const r of rows) {
    if (ghosts.has(r.id)) {
      // A ghost that names a row which is not one (of the base, or applied at once) is a witness: it
      // goes in, so the compaction deletes that row. One that names a ghost, or none, is left out.
      out.set(r, { ghost: r.prev !== null && r.prev !== 0 && !ghosts.has(r.prev) ? "witness" : "left out" });
      continue;
    }
    const previous = r.refs === null ? undefined : ghosts.get(r.refs);
    if (!previous) continue;
    const end = literalEnd(previous.sql, previous.valueAt);
    if (end === -1) return new Map();
    out.set(r, { sql: `${r.sql.slice(0, r.refsAt + 1)}${previous.sql.slice(previous.valueAt, end)}${guard(r.id)}` });
  }
  return out;
}

const maxAbove = (s: Ahead) => (s.db.prepare("SELECT MAX(id) FROM kine WHERE id > ?").pluck().get(s.after) as number | null) ?? null;

/** A witness's columns as SQLite reads its literals: integers (BigInts, exact), the name without its quotes ('' is '). */
function columnsOf(r: HeldRow): (bigint | string | null)[] {
  const [id, name, ...rest] = r.head;
  return [BigInt(id), name.slice(1, -1).replaceAll("''", "'"), ...rest.map((t) => (t === "NULL" ? null : BigInt(t)))];
}

const isGhost = (x: Swapped | undefined): x is { ghost: "witness" | "left out" } => x !== undefined && "ghost" in x;

/**
 * Applies the held texts. When SQLite refuses one, the scratch goes back to the rows exec applied and
 * the texts before it are applied again, their ghosts read from them alone (a ghost's deleting row may
 * have been in the one refused): the scratch then holds exactly the texts before the refusal, as the
 * walk would have.
 */
function flush(s: Ahead, compact: number): LogAheadResult {
  const { db } = s;
  let texts = s.held;
  s.held = [];
  let error: string | undefined;
  let ghosts = 0;
  let top = 0;
  for (;;) {
    const swap = ghostsAt(texts, s.ghostable, s.after, compact);
    const refusedAt = applyTexts(db, texts, swap);
    if (refusedAt === null) {
      for (const text of texts) {
        for (const x of text.items) {
          if (typeof x === "string") continue;
          const swapped = swap.get(x);
          if (isGhost(swapped)) ghosts++;
          // A staying row whose old_value names a row of the base: read again there after the copy.
          else if (x.refs !== null && x.refs <= s.after) s.reread.push(x.id);
          // Left out or not, each row would have moved the AUTOINCREMENT counter.
          if (x.name !== null) top = Math.max(top, x.id);
        }
      }
      break;
    }
    error = refusedAt.error;
    // Back to the rows exec applied at once.
    db.prepare("DELETE FROM kine WHERE id > ?").run(s.floor);
    texts = texts.slice(0, refusedAt.at);
  }
  const inScratch = maxAbove(s);
  s.maxId = inScratch === null && top <= s.after ? null : Math.max(inScratch ?? 0, top);
  return error === undefined ? { applied: texts.length, ghosts } : { applied: texts.length, ghosts, error };
}

/** Runs each text in its own transaction, rows swapped as `swap` says; the first SQLite refuses (rolled back), or null. */
function applyTexts(db: Database.Database, texts: HeldText[], swap: Map<HeldRow, Swapped>): { at: number; error: string } | null {
  const statements = new Map<number, Database.Statement>();
  const insertWitnesses = (rows: (bigint | string | null)[][]) => {
    for (let k = 0; k < rows.length; k += GHOSTS_AT_ONCE) {
      const part = rows.slice(k, k + GHOSTS_AT_ONCE);
      let stmt = statements.get(part.length);
      if (!stmt) statements.set(part.length, (stmt = db.prepare(ghostsInsert(part.length))));
      stmt.run(part.flat());
    }
  };
  for (const [at, text] of texts.entries()) {
    try {
      if (text.refused) throw new Error(text.refused);
      const sql: string[] = [];
      const witnesses: (bigint | string | null)[][] = [];
      for (const x of text.items) {
        if (typeof x === "string") {
          sql.push(x);
          continue;
        }
        const swapped = swap.get(x);
        if (!swapped) sql.push(x.sql);
        else if ("sql" in swapped) sql.push(swapped.sql);
        else if (swapped.ghost === "witness") witnesses.push(columnsOf(x));
      }
      // The staying rows first: their guards compare with MAX(id), which the text's witnesses would raise.
      db.transaction(() => {
        if (sql.length) db.exec(sql.join(""));
        insertWitnesses(witnesses);
      })();
    } catch (err) {
      return { at, error: (err as Error).message };
    }
  }
  return null;
}

const COLUMNS = "id, name, created, deleted, create_revision, prev_revision, lease, value, old_value";

function merge(s: Ahead, into: string, upTo: number, maxBytes?: number): { rows: number; witnesses: number[] } {
  const { db } = s;
  db.prepare("ATTACH DATABASE ? AS staged").run(into);
  try {
    // As the staged database's own connection writes it (apply-session.ts): no journal file, no fsync
    // (the restore fsyncs the file once the log is applied).
    db.pragma("staged.journal_mode = MEMORY");
    db.pragma("staged.synchronous = OFF");
    // The room staging has, as the staged database's own connection keeps it (apply-session.ts).
    if (maxBytes !== undefined) limitPages(db, "staged", maxBytes);
    let rows = 0;
    let witnesses: number[] = [];
    db.transaction(() => {
      rows = db
        .prepare(`INSERT INTO staged.kine (${COLUMNS}) SELECT ${COLUMNS} FROM main.kine WHERE id > ? AND id <= ? ORDER BY id`)
        .run(s.after, upTo).changes;
      // Only rows the copy brought (above the run's start): a listed row the guard had skipped names no row of the run.
      db.prepare(
        `UPDATE staged.kine SET old_value = (SELECT p.value FROM staged.kine AS p WHERE p.id = staged.kine.prev_revision)
           WHERE id IN (SELECT value FROM json_each(?)) AND id > ? AND id <= ?`,
      ).run(JSON.stringify(s.reread), s.after, upTo);
      // The run's INSERTs would have moved the counter to their highest id (the restore's finish step then
      // brings it down to the point); the copy stopped at upTo.
      if (s.maxId !== null) db.prepare("UPDATE staged.sqlite_sequence SET seq = ? WHERE name = 'kine' AND seq < ?").run(s.maxId, s.maxId);
      witnesses = db.prepare("SELECT id FROM main.kine WHERE ghost = 1 AND id > ? AND id <= ?").pluck().all(s.after, upTo) as number[];
    })();
    return { rows, witnesses };
  } finally {
    db.exec("DETACH DATABASE staged");
  }
}
