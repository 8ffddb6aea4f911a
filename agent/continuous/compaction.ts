import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import type { Logger } from "pino";
import type { BackupStore } from "../../lib/storage/backup-store";
import { isDomainError } from "../../lib/contracts/errors";
import { parseSegmentKey, segmentKey, type SegmentName } from "../../lib/contracts/continuous";
import { openKineDb, writeAsScratch } from "../kine/schema";
import { decodeSegment, encodeSegment } from "./segment-codec";
import { forEachStatement, formatSegment, MAX_SEGMENT_TEXT, wholeSegmentHeader, type KineRow } from "./segment-format";
import { listLog, straddles, type LogGeneration } from "./log-listing";

/**
 * Compaction of the log (docs/continuous.md, "Compaction"): the segments of each closed window of
 * LIFEBOAT_LOG_COMPACT_HOURS (UTC, aligned to the epoch) are folded into one compacted segment,
 * `…_<first>-<last>_<at>.compacted.sql.zst.gpg`, that holds only what kine's compaction to C keeps,
 * C being the compact revision of the window's last segment (kine's own at that moment, so every later
 * point compacts at least as far): a row superseded by a row at or below C goes, and so does a tombstone
 * at or below C (kine's own rule). No row after the window can miss them: when it was written, kine
 * had already compacted past C, so the live database no longer held them either.
 *
 * A restore can end at a compacted segment's start or end, never inside it. Its SQL, after its rows:
 *   DELETE … WHERE id BETWEEN first AND last AND id NOT IN (the kept ids)   — so applying it after some of
 *     the originals (a compaction cut short) gives the same database;
 *   kine's compaction DELETE to C over the whole table   — first, while every row below the window
 *     still has the row that supersedes it (the next statement removes some of those);
 *   DELETE … WHERE id IN (rows below first that a row of the window superseded)   — the witnesses
 *     of those deletions are gone, so the restore's own compaction could no longer find them;
 *   UPDATE sqlite_sequence … to last   — the window's last row may be a tombstone that went.
 * old_value stays a sub-select only where the row it names is still there; otherwise its bytes.
 *
 * Order: the compacted object is written, read back and compared, and only then are the originals
 * deleted, oldest first. A crash in between leaves both; the planner prefers the compacted one, the
 * idempotent apply tolerates either order, and the next run folds them again under the same name.
 */

export interface CompactionResult {
  generation: string;
  key: string;
  first: number;
  last: number;
  compactRevision: number;
  segmentsFolded: number;
  rowsIn: number;
  rowsKept: number;
  /** Rows of the window that kine's own compaction had deleted by the time the fold read past them: dropped from the scratch as it went. */
  rowsForgotten: number;
  /** The fold's scratch database at its largest (SQLite never shrinks it): what it needed on the state directory's disk. */
  scratchBytes: number;
  bytesBefore: number;
  bytesAfter: number;
  /** Originals whose deletion failed (they stay; harmless duplicates). */
  failed: string[];
  /** The width of the window folded: LIFEBOAT_LOG_COMPACT_HOURS, or LIFEBOAT_LOG_FOLD_HOURS for a fold of folded windows. */
  windowHours: number;
  /** Objects of the window read after the fold's cut: left as they are, for the next window. */
  left: SegmentName[];
}

export interface CompactionOptions {
  passphrase: string;
  /** Window width in hours (LIFEBOAT_LOG_COMPACT_HOURS); windows that have ended are folded. */
  windowHours: number;
  /**
   * The second level (LIFEBOAT_LOG_FOLD_HOURS; 0 or absent: none): once a span of this many hours has
   * ended, its compacted windows fold again into one. Each compacted window carries kine's uncompacted
   * tail at its end (its last ~5 minutes); a span keeps only its own last one.
   */
  foldHours?: number;
  now: Date;
  /** A scratch directory for the working database (removed afterwards). */
  scratchDir: string;
  log?: Logger;
  /** Tests: called after the compacted object is written and verified, before any original is deleted. */
  beforeDelete?: () => Promise<void>;
  /** Tests: the largest compacted text written (default MAX_SEGMENT_TEXT, what a restore reads). */
  maxText?: number;
}

/**
 * The end of a row's INSERT whose old_value is the sub-select of the row before: its id (the guard's).
 * Matched on the statement's last characters, after its last literal, so a value cannot fake it.
 */
const REBUILT_END = /,\(SELECT value FROM kine WHERE id = \d+\) WHERE (\d+) > \(SELECT IFNULL\(MAX\(id\),0\) FROM kine\);\n$/;

/** The compacted segment's deletion of superseded rows below its window: a whole statement, never a row's INSERT. */
const BELOW_RE = /^DELETE FROM kine WHERE id IN \(([\d,]+)\);\n$/;

async function readText(store: BackupStore, key: string, passphrase: string): Promise<string> {
  return decodeSegment(await store.get(key), passphrase);
}

/**
 * A generation's objects by window of their read time, oldest first: `closed` once the window has
 * ended. What a closed window holds after its newest compacted object (the rows read after the fold's
 * cut, see compactWindow) belongs to the next window: it waits for the next compaction point there.
 */
export function windowGroups(segments: SegmentName[], windowHours: number, now: Date): { segs: SegmentName[]; closed: boolean }[] {
  const width = windowHours * 3_600_000;
  const byWindow = new Map<number, SegmentName[]>();
  for (const s of [...segments].sort((a, b) => a.first - b.first || a.key.localeCompare(b.key))) {
    const w = Math.floor(s.readAt.getTime() / width);
    byWindow.set(w, [...(byWindow.get(w) ?? []), s]);
  }
  const out: { segs: SegmentName[]; closed: boolean }[] = [];
  let carry: SegmentName[] = [];
  for (const [w, list] of [...byWindow.entries()].sort((a, b) => a[0] - b[0])) {
    const segs = [...carry, ...list];
    const closed = (w + 1) * width <= now.getTime();
    const folded = Math.max(0, ...segs.filter((x) => x.compacted).map((x) => x.last));
    carry = closed && folded > 0 ? segs.filter((x) => x.first > folded) : [];
    out.push({ segs: carry.length ? segs.filter((x) => x.first <= folded) : segs, closed });
  }
  if (carry.length) out.push({ segs: carry, closed: false });
  return out;
}

/** The windows of a generation's segments that have ended and hold more than one object. */
export function closedWindows(segments: SegmentName[], windowHours: number, now: Date): SegmentName[][] {
  return windowGroups(segments, windowHours, now)
    .filter((g) => g.closed && g.segs.length > 1)
    .map((g) => g.segs);
}

/**
 * Where a fold ends, given the compact revisions of the objects it reads in order: at the last one
 * read right after kine compacted (its compact revision above the one before), so the window's end
 * keeps kine's smallest tail (its 1000 revisions plus one interval of writes, not up to five more
 * minutes of them). −1 when no object follows a compaction: the fold takes them all.
 */
export function foldCut(compactRevisions: number[]): number {
  for (let i = compactRevisions.length - 1; i > 0; i--) if (followsCompaction(compactRevisions[i - 1], compactRevisions[i])) return i;
  return -1;
}

/** An object read right after kine compacted: its compact revision above the one read before it. */
const followsCompaction = (before: number, after: number) => after > before;

/** Read ahead of the cut at most this much SQL: beyond it (kine not compacting) the fold takes it in. */
const PENDING_BYTES = 64 * 1024 * 1024;

/**
 * Folds one window's segments (one generation, sorted, contiguous) into one compacted segment and
 * deletes the originals, up to the fold's cut (foldCut): what was read after it is left as it is, in
 * `left`, for the next window. Null when there is nothing to fold (one object up to the cut). Rejects
 * (having deleted nothing) when a segment cannot be read or is not the one its name says, when the
 * window is not one unbroken run, or when the store fails.
 */
export async function compactWindow(
  store: BackupStore,
  segs: (SegmentName & { size?: number })[],
  opts: CompactionOptions,
  windowHours = opts.windowHours,
  /** Write a checkpoint (checkpointLog): the same fold under a `.checkpoint` name, and nothing deleted. */
  checkpoint = false,
  /** The segments a checkpoint first in `segs` stands in for: deleted too, oldest first, once the fold is written. */
  covered: (SegmentName & { size?: number })[] = [],
): Promise<CompactionResult | null> {
  const first = segs[0].first;
  const generation = segs[0].generation;
  mkdirSync(opts.scratchDir, { recursive: true, mode: 0o700 });
  const file = path.join(opts.scratchDir, `${checkpoint ? "checkpoint" : "compact"}-${generation}-${first}.db`);
  rmSync(file, { force: true });
  const db = openKineDb(file);
  try {
    writeAsScratch(db);
    // Each segment INSERT … SELECT keeps a statement journal: in memory (one row's pages), not ~10
    // writes a row to a temp file. The witness table is in the scratch file itself, so this holds no more.
    db.pragma("temp_store = MEMORY");
    dropLookupIndexes(db);
    // Every row a folded object inserts is a witness, even one a later object's deletions remove:
    // folding compacted windows again, a tail row of one window superseded by a tail row of the next,
    // itself superseded in the window after, must still go (kine's live database had all three).
    db.exec(
      "CREATE TABLE witness(id INTEGER, prev INTEGER); CREATE INDEX witness_by_id ON witness(id); CREATE TRIGGER witnessed AFTER INSERT ON kine WHEN NEW.name != 'compact_rev_key' AND NEW.prev_revision != 0 BEGIN INSERT INTO witness VALUES (NEW.id, NEW.prev_revision); END;",
    );
    // What kine's own compaction had deleted by the time the objects applied so far were read (their
    // compact revision C): rows superseded by a row in (done, C], and tombstones there. They are never
    // kept (the fold compacts to at least C), and no later object names them in an old_value sub-select
    // (the shipper writes one only for a row still there when it reads: reader.ts), so they leave the
    // scratch as the window is read, as they left kine's database: the scratch stays near the live
    // database's size instead of holding every row of the window (~790 MB for 6 h at the simulator's
    // rate). Their witnesses stay. The newest row stays whatever it is: the segments' guards compare with MAX(id).
    const forget = db.prepare(
      "DELETE FROM kine WHERE id < (SELECT MAX(id) FROM kine) AND (id IN (SELECT prev FROM witness WHERE id > ? AND id <= ?) OR (deleted != 0 AND id > ? AND id <= ?))",
    );
    let forgotten = first - 1;
    let rowsForgotten = 0;
    const rebuilt = new Set<number>();
    const inherited = new Set<number>();
    let next = first;
    let compactRevision = 0;
    let last = first - 1;
    let readAt = segs[0].readAt;
    let folded = 0;
    // Read in order; applied to the scratch database only once an object read right after a kine
    // compaction follows them (or PENDING_BYTES is reached): what stays pending at the end is after the cut.
    let pending: { s: SegmentName; sql: string; compactRevision: number }[] = [];
    let pendingBytes = 0;
    let previousCompact: number | null = null;
    // Through a checkpoint: whether a compaction point followed it (a checkpoint run with none takes all after it).
    let sawCheckpoint = false;
    let cutAfterCheckpoint = false;
    const apply = () => {
      for (const p of pending) {
        // Statement by statement, not line by line: a row's value may hold newlines, and a line of it
        // that reads like a statement is text, not one (forEachStatement steps over literals).
        forEachStatement(p.sql, (start, end) => {
          if (p.sql.startsWith("INSERT INTO kine(", start)) {
            const m = REBUILT_END.exec(p.sql.slice(Math.max(start, end - 160), end));
            if (m) rebuilt.add(Number(m[1]));
            return;
          }
          // A compacted segment folded again: its deletions below stay owed.
          const d = BELOW_RE.exec(p.sql.slice(start, end));
          if (d) for (const id of d[1].split(",")) inherited.add(Number(id));
        });
        db.exec(p.sql);
        compactRevision = Math.max(compactRevision, Math.min(p.compactRevision, p.s.last));
        last = p.s.last;
        readAt = p.s.readAt;
        folded++;
      }
      pending = [];
      pendingBytes = 0;
      if (compactRevision > forgotten) {
        rowsForgotten += forget.run(forgotten, compactRevision, forgotten, compactRevision).changes;
        forgotten = compactRevision;
      }
    };
    // Originals a compacted object read before them already holds: a fold cut short after deleting
    // those before them (it deletes oldest first) leaves the compacted object first in its window.
    const held: SegmentName[] = [];
    let lastRead: SegmentName | null = null;
    for (const s of segs) {
      if (s.last <= next - 1) {
        if (lastRead?.compacted && !lastRead.checkpoint) held.push(s);
        continue;
      }
      lastRead = s;
      if (s.first > next) throw new Error(`the log has a gap before ${s.key} (revisions ${next}–${s.first - 1})`);
      const sql = await readText(store, s.key, opts.passphrase);
      const h = wholeSegmentHeader(sql, { ...s, generation });
      if (!h) throw new Error(`${s.key} is not the whole segment its name says`);
      pending.push({ s, sql, compactRevision: h.compactRevision });
      pendingBytes += sql.length;
      // A checkpoint (the window folded so far) ends at a cut of its own: applied at once.
      const cut = (previousCompact !== null && followsCompaction(previousCompact, h.compactRevision)) || pendingBytes > PENDING_BYTES;
      if (cut && sawCheckpoint) cutAfterCheckpoint = true;
      if (cut || s.checkpoint) apply();
      if (s.checkpoint) sawCheckpoint = true;
      previousCompact = h.compactRevision;
      next = s.last + 1;
    }
    // No compaction point in the window: all of it. A checkpoint run from the window's last checkpoint
    // with none since takes all after it too (a cluster whose kine does not compact still gets
    // checkpoints); a fold from a checkpoint ends at the checkpoint's own cut then, and the rest waits
    // for the next window as it would have without the checkpoint.
    if (checkpoint && sawCheckpoint ? !cutAfterCheckpoint : folded === 0) apply();
    // Nothing folded beyond one object; a fold from a checkpoint still replaces the segments it covers.
    if (folded < 2 && !(sawCheckpoint && !checkpoint && folded === 1)) {
      // Nothing more to fold, but what it holds was left by a fold cut short: nothing else would ever
      // delete it. Oldest first, as the fold would have.
      if (!checkpoint)
        for (const h of held) {
          try {
            await store.delete(h.key);
            opts.log?.info({ key: h.key }, "log compaction: deleted an original a compacted object holds (a fold cut short)");
          } catch (err) {
            opts.log?.warn({ key: h.key, err: (err as Error).message }, "log compaction: delete failed");
            break;
          }
        }
      return null;
    }
    let bytesBefore = 0;
    // What the fold replaces: the segments a checkpoint first stood in for, not the checkpoint.
    for (const s of [...covered, ...segs]) if (s.last <= last && !s.checkpoint) bytesBefore += s.size ?? 0;
    const scratchBytes = (db.pragma("page_count", { simple: true }) as number) * (db.pragma("page_size", { simple: true }) as number);
    const rowsIn = rowsForgotten + (db.prepare("SELECT COUNT(*) FROM kine WHERE id BETWEEN ? AND ?").pluck().get(first, last) as number);
    // kine's rule at C: superseded by a row at or below C, or a tombstone at or below C.
    const superseded = new Set(db.prepare("SELECT DISTINCT prev FROM witness WHERE id <= ?").pluck().all(compactRevision) as number[]);
    // Iterated, not loaded: an hour of rows is ~100 MB, what is kept a small part of it.
    const kept: Omit<KineRow, "oldValueRebuildable">[] = [];
    for (const r of db.prepare("SELECT * FROM kine WHERE id BETWEEN ? AND ? ORDER BY id").iterate(first, last) as Iterable<
      Omit<KineRow, "oldValueRebuildable">
    >)
      if (!superseded.has(r.id) && !(r.deleted !== 0 && r.id <= compactRevision)) kept.push(r);
    const keptIds = new Set(kept.map((r) => r.id));
    const rows: KineRow[] = kept.map((r) => ({
      ...r,
      // The sub-select works where the row it names is still there: below the window (the base or an
      // earlier segment, as in the original), or kept here. Otherwise the bytes the window computed.
      oldValueRebuildable: rebuilt.has(r.id) && (r.prev_revision < first || keptIds.has(r.prev_revision)),
    }));
    const below = [...new Set([...superseded, ...inherited])].filter((id) => id < first).sort((a, b) => a - b);
    const tail = [
      `DELETE FROM kine WHERE id BETWEEN ${first} AND ${last} AND id NOT IN (${rows.map((r) => r.id).join(",") || "0"});`,
      // kine's compaction to C over the whole table, while the rows below still have their witnesses
      // (a row below superseded by another row below); compact_rev_key is the restore's to set.
      `DELETE FROM kine WHERE id IN (SELECT kp.prev_revision FROM kine AS kp WHERE kp.name != 'compact_rev_key' AND kp.prev_revision != 0 AND kp.id <= ${compactRevision} UNION SELECT kd.id FROM kine AS kd WHERE kd.deleted != 0 AND kd.id <= ${compactRevision});`,
      ...(below.length ? [`DELETE FROM kine WHERE id IN (${below.join(",")});`] : []),
      // The window's last row may have gone (a tombstone): the sequence still reached it.
      `UPDATE sqlite_sequence SET seq = ${last} WHERE name = 'kine' AND seq < ${last};`,
    ];
    const header = { generation, first, last, compactRevision, readAt: readAt.toISOString() };
    const note = `${folded} segments, ${rowsIn} rows, kine's compaction to ${compactRevision}: ${rows.length} rows kept`;
    const text = formatSegment(header, rows, { note, tail });
    // A restore refuses text over MAX_SEGMENT_TEXT, and it prefers a compacted object to the originals
    // it replaces: one too large would make every point in and after the window unreachable.
    const maxText = opts.maxText ?? MAX_SEGMENT_TEXT;
    if (text.length > maxText)
      throw new Error(
        `the window's compacted text would be ${Math.ceil(text.length / 2 ** 20)} MiB, more than a restore reads (${Math.floor(maxText / 2 ** 20)} MiB): its ${folded} segments stay as they are`,
      );
    const key = segmentKey(generation, first, last, readAt, checkpoint ? "checkpoint" : true);
    const fullKey = segs[0].key.slice(0, segs[0].key.lastIndexOf("/") + 1) + key;
    const bytes = await encodeSegment(text, opts.passphrase);
    await store.put(fullKey, Readable.from([bytes]));
    if ((await readText(store, fullKey, opts.passphrase)) !== text) throw new Error(`${fullKey} did not read back as written`);
    await opts.beforeDelete?.();
    const failed: string[] = [];
    for (const s of checkpoint ? [] : [...covered, ...segs].sort((a, b) => a.first - b.first || a.last - b.last)) {
      if (s.key === fullKey || s.last > last) continue;
      try {
        await store.delete(s.key);
      } catch (err) {
        failed.push(s.key);
        opts.log?.warn({ key: s.key, err: (err as Error).message }, "log compaction: delete failed");
        break; // oldest first: what stays is still one run after the compacted segment
      }
    }
    return {
      generation,
      key: fullKey,
      first,
      last,
      compactRevision,
      segmentsFolded: folded,
      rowsIn,
      rowsKept: rows.length,
      rowsForgotten,
      scratchBytes,
      bytesBefore,
      bytesAfter: bytes.length,
      failed,
      windowHours,
      left: segs.filter((x) => x.last > last),
    };
  } finally {
    db.close();
    rmSync(file, { force: true });
  }
}

/**
 * kine's indexes that only speed up kine's own queries, dropped from a fold's scratch database: the
 * fold reads and deletes by id (the rowid) and through its witness table, never by name, so five of
 * kine's six indexes were upkeep on every row for nothing — a quarter of the fold's SQL time (30
 * segments of the simulated day: 309 → 233 ms) and their pages in the scratch file. The UNIQUE
 * (name, prev_revision) index stays: a segment that breaks it fails the fold, which then deletes
 * nothing (compaction.test.ts).
 */
function dropLookupIndexes(db: ReturnType<typeof openKineDb>): void {
  const names = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'kine' AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE INDEX%'")
    .pluck()
    .all() as string[];
  for (const name of names) db.exec(`DROP INDEX "${name.replaceAll('"', '""')}"`);
}

export interface CheckpointResult {
  /** The checkpoint written (null: none, `why` says why). */
  written: CompactionResult | null;
  why: string | null;
  /** Older checkpoints deleted (see keepCheckpoints). */
  deleted: string[];
}

/** Segments a checkpoint must have beyond the previous one to be worth writing. */
const CHECKPOINT_MIN_SEGMENTS = 3;

/** Checkpoints read this recently all stay; older ones, the newest of each CHECKPOINT_THIN_MS slot. */
const CHECKPOINT_KEEP_ALL_MS = 2 * 3_600_000;
const CHECKPOINT_THIN_MS = 15 * 60_000;

/**
 * Which of a window's checkpoints stay once a newer one is written: every one read within the last
 * two hours, and before that the newest of each quarter hour (UTC). A restore to a point takes the
 * newest checkpoint at or before it and applies the segments after that: within the last two hours at
 * most one checkpoint interval of them, before that at most a quarter hour. A 6 h window so holds at
 * most ~40 checkpoints (~0.7 MB each at the simulator's rate, against ~220 MB of its segments).
 */
export function keepCheckpoints<T extends SegmentName>(checkpoints: T[], now: Date): Set<T> {
  const keep = new Set<T>();
  const newestOfSlot = new Map<number, T>();
  for (const c of checkpoints) {
    if (c.readAt.getTime() > now.getTime() - CHECKPOINT_KEEP_ALL_MS) keep.add(c);
    const slot = Math.floor(c.readAt.getTime() / CHECKPOINT_THIN_MS);
    const was = newestOfSlot.get(slot);
    if (!was || c.last > was.last) newestOfSlot.set(slot, c);
  }
  for (const c of newestOfSlot.values()) keep.add(c);
  return keep;
}

/**
 * Writes a checkpoint of the newest generation's open window (docs/continuous.md, "Checkpoints"): the
 * window so far folded as compaction would fold it (up to its last compaction point), from the window's
 * newest checkpoint and the segments after it, so each run reads a few minutes of segments. Its
 * segments stay: every point in the window stays reachable, and a restore to one after the checkpoint
 * applies the checkpoint and the few segments after it instead of the whole window. Then deletes the
 * window's checkpoints keepCheckpoints does not keep, and those of windows a fold has replaced.
 * Rejects when the log cannot be listed or the checkpoint cannot be written (nothing deleted then).
 */
export async function checkpointLog(store: BackupStore, opts: CompactionOptions): Promise<CheckpointResult> {
  const gens = await listLog(store);
  const gen = gens[gens.length - 1];
  if (!gen) return { written: null, why: "no log", deleted: [] };
  const deleted: string[] = [];
  const drop = async (keys: string[]) => deleted.push(...(await deleteEach(store, keys, opts.log)));
  // Checkpoints a compacted object overlaps: their window was folded, the fold replaces them.
  const stale = staleCheckpoints(gen);
  await drop(stale.map((c) => c.key));
  const groups = windowGroups(gen.segments, opts.windowHours, opts.now);
  const open = groups[groups.length - 1];
  if (!open || open.closed) return { written: null, why: "no open window", deleted };
  const segs = open.segs;
  // This window's checkpoints: within its objects' span (a fold of the window before never overlaps them).
  const mine = gen.checkpoints.filter((c) => !stale.includes(c) && c.first >= segs[0].first && c.last <= segs[segs.length - 1].last);
  const latest = lineUp(gen, segs);
  const after = latest ? segs.filter((s) => s.first > latest.last) : segs;
  if (after.length < CHECKPOINT_MIN_SEGMENTS)
    return { written: null, why: `${after.length} segments since the last checkpoint (fewer than ${CHECKPOINT_MIN_SEGMENTS})`, deleted };
  let written: CompactionResult | null;
  try {
    written = await compactWindow(store, latest ? throughCheckpoint(segs, latest).input : segs, opts, opts.windowHours, true);
  } catch (err) {
    // Only the checkpoint itself unreadable or damaged (every later run would fail on it) goes, and
    // this run folds the window from its segments. A segment after it damaged, or the store failing,
    // is not its fault: it stays, and the next run goes on from it rather than reading the window again.
    if (!latest || (await notItsFault(store, latest, opts.passphrase))) throw err;
    opts.log?.warn({ key: latest.key, err: (err as Error).message }, "log checkpoint: the last checkpoint is unusable; folding the window from its segments");
    await drop([latest.key]);
    written = await compactWindow(store, segs, opts, opts.windowHours, true);
  }
  if (!written) return { written: null, why: "nothing to fold up to the window's last compaction point", deleted };
  const keep = keepCheckpoints([...mine.filter((c) => c.key !== written.key), parseSegmentKey(written.key)!], opts.now);
  await drop(mine.filter((c) => c.key !== written.key && !keep.has(c)).map((c) => c.key));
  return { written, why: null, deleted };
}

/**
 * The newest of a generation's checkpoints that lines up with `objects` (a window's, in order): it
 * begins at one object's first revision and ends at one's last, no object straddles either end, and
 * no fold has replaced it; null if none. It need not begin with the window: a checkpoint written
 * before the previous window's fold moved that window's last segments into this one (windowGroups)
 * begins after them.
 */
function lineUp(gen: LogGeneration, objects: SegmentName[]): SegmentName | null {
  const stale = staleCheckpoints(gen);
  const fits = gen.checkpoints.filter(
    (c) => !stale.includes(c) && objects.some((s) => s.first === c.first) && objects.some((s) => s.last === c.last) && !objects.some((s) => straddles(c, s)),
  );
  return fits.length ? fits[fits.length - 1] : null;
}

/** `objects` with checkpoint `c` standing in for those it folded, and those (`covered`). */
function throughCheckpoint(objects: SegmentName[], c: SegmentName): { input: SegmentName[]; covered: SegmentName[] } {
  return {
    input: [...objects.filter((s) => s.last < c.first), { ...c, compacted: true }, ...objects.filter((s) => s.first > c.last)],
    covered: objects.filter((s) => s.first >= c.first && s.last <= c.last),
  };
}

/** Whether checkpoint `c` reads as the whole segment its name says, or the store (not it) failed to give it. */
async function notItsFault(store: BackupStore, c: SegmentName, passphrase: string): Promise<boolean> {
  try {
    return wholeSegmentHeader(await readText(store, c.key, passphrase), c) !== null;
  } catch (err) {
    return isDomainError(err) && err.code.startsWith("storage_") && err.code !== "storage_not_found";
  }
}

/** Deletes each of `keys` (checkpoints: redundant, so a failure stops nothing); the keys deleted. */
async function deleteEach(store: BackupStore, keys: string[], log?: Logger): Promise<string[]> {
  const deleted: string[] = [];
  for (const key of keys) {
    try {
      await store.delete(key);
      deleted.push(key);
    } catch (err) {
      log?.warn({ key, err: (err as Error).message }, "log checkpoint: delete failed");
    }
  }
  return deleted;
}

/** A generation's checkpoints that a compacted object overlaps (their window folded since). */
function staleCheckpoints(gen: LogGeneration): SegmentName[] {
  return gen.checkpoints.filter((c) => gen.segments.some((s) => s.compacted && s.first <= c.last && s.last >= c.first));
}

/**
 * Folds every closed window of every generation, then (with foldHours) every ended span of them again.
 * A window that fails is logged and left as it was (the others go on); rejects only when the log
 * cannot be listed.
 */
export async function compactLog(store: BackupStore, opts: CompactionOptions): Promise<CompactionResult[]> {
  const out: CompactionResult[] = [];
  const levels = [opts.windowHours, ...(opts.foldHours && opts.foldHours > opts.windowHours ? [opts.foldHours] : [])];
  for (const hours of levels) {
    // Listed again for the second level: it folds what the first one wrote.
    for (const gen of await listLog(store)) {
      let carry: SegmentName[] = [];
      for (const g of windowGroups(gen.segments, hours, opts.now)) {
        if (!g.closed) break;
        // What the window before read after its cut waits here for this window's cut.
        const window = [...carry, ...g.segs.filter((x) => !carry.some((c) => c.key === x.key))].sort((a, b) => a.first - b.first || a.key.localeCompare(b.key));
        carry = [];
        if (window.length < 2) continue;
        try {
          // From the window's newest checkpoint, when one lines up (first level only): the fold then
          // reads it and the segments after it, not the whole window again.
          const cp = hours === opts.windowHours ? lineUp(gen, window) : null;
          const via = cp ? throughCheckpoint(window, cp) : null;
          const r = via
            ? await compactWindow(store, via.input, opts, hours, false, via.covered).catch((err: unknown) => {
                // An unusable checkpoint must not keep its window from folding: from the segments, then.
                opts.log?.warn({ key: cp!.key, err: (err as Error).message }, "log compaction: checkpoint unusable; folding the window from its segments");
                return compactWindow(store, window, opts, hours);
              })
            : await compactWindow(store, window, opts, hours);
          if (!r) continue;
          out.push(r);
          carry = r.left;
          const { left, ...logged } = r;
          opts.log?.info({ ...logged, failed: r.failed.length, left: left.length }, "log compaction: window folded");
        } catch (err) {
          opts.log?.warn({ generation: gen.generation, from: window[0].key, err: (err as Error).message }, "log compaction: window left as it was");
        }
      }
    }
  }
  // The checkpoints of the windows just folded: the compacted objects replace them.
  if (out.length)
    for (const gen of await listLog(store))
      await deleteEach(
        store,
        staleCheckpoints(gen).map((c) => c.key),
        opts.log,
      );
  return out;
}
