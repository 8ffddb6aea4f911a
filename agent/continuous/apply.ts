import { statfsSync } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { DomainError, hasErrorCode } from "../../lib/contracts/errors";
import type { SegmentName } from "../../lib/contracts/continuous";
import { fsyncPath } from "../../lib/storage/durable-file";
import { StageError, UNCHANGED } from "../restore/stage";
import { mib, STAGING_RESERVE_BYTES } from "../restore/stage-limits";
import { releaseSqliteWorker, takeSqliteWorker } from "../sqlite/worker";
import { aheadRun, firstOfRun, startAhead, type LogAhead } from "./apply-ahead";
import type { LogApplyStep } from "./apply-session";
import { countRowStatements, wholeSegmentHeader, type SegmentHeader } from "./segment-format";
import { decodeSegment } from "./segment-codec";

/**
 * Brings a staged base database forward to revision `target` with the log's segments: each segment's
 * SQL in order, rows above the target dropped, then one compaction to the compact revision the
 * database had at the last applied segment's read (kine's own DELETE; compacting once equals compacting in
 * batches, because what it deletes only grows with the revision), and compact_rev_key set to it.
 */

export interface ApplyResult {
  /** MAX(id) after applying. */
  revision: number;
  compactRevision: number;
  segmentsApplied: number;
  /** Read time of the last segment applied (null: none). */
  readAt: string | null;
  /** True when the log outnumbered the base's rows and kine's indexes were built once after it (apply-session.ts). */
  bulkLoad: boolean;
  /** Of segmentsApplied, how many were applied ahead, while the base was staged (apply-ahead.ts). */
  appliedAhead: number;
  /** Of their rows, how many the point's compaction deletes anyway: put in without their values, or left out (ahead-session.ts). */
  compactedAhead: number;
}

/** The newest point a damaged log still reaches, offered instead of the one asked for. */
export interface NewestPoint {
  revision: number;
  readAt: string | null;
}

/** Thrown when a segment is missing or damaged before the target: the restore stops before it (`log_damaged`). */
export class LogDamagedError extends DomainError {
  constructor(message: string, details: { lostFrom: number; lostTo: number; segment: string | null; newestPoint: NewestPoint }) {
    super("log_damaged", message, { details });
  }
}

export interface ApplyOptions {
  /** The staged database (a base set's state.db), written in place. */
  dbPath: string;
  /** The generation's segments, any order. */
  segments: SegmentName[];
  target: number;
  open(key: string): Promise<Readable>;
  passphrase: string;
  /** The newest revision the log holds (for the "lost" range of a damaged segment). */
  logEnd?: number;
  /**
   * The segments again, listed now. Called when a segment the list named is gone from the store: a
   * compaction folded it after the restore listed the log (it deletes originals only once the object
   * holding them is written). Rejects like the planner (e.g. the target is now inside a folded window).
   */
  relist?: () => Promise<SegmentName[]>;
  /**
   * fsync the database once the log is applied (a restore's staging; a drill's is dropped at once).
   * Segments are applied without SQLite's own fsyncs: three per segment (~27 ms here) were most of
   * an apply's time, and a staged database is only trusted once this fsync and the stager's have run.
   */
  durable?: boolean;
  /**
   * The most the staged database may grow to while the log is applied: the room staging has on its
   * disk (stage-point.ts, stagingRoom). SQLite then answers SQLITE_FULL at it, which fails the apply
   * with StageError instead of taking the free space staging leaves for k3s.
   */
  maxBytes?: number;
}

/** How often one apply lists the log again (a compaction and then a fold can both run during one restore). */
const RELISTS = 3;

/**
 * How many segments ahead are fetched and decoded while one is applied: a store's round trip (tens
 * of ms to a remote S3) then overlaps the work instead of adding to it, thousands of times for a
 * point in a window not compacted yet. About one round trip's worth of decoding (25 ms against ~2 ms a
 * segment here): at 4, the open window's point from a store 25 ms away took 0.46–0.49 s, at 12
 * 0.35–0.39 s, the same from a directory (docs/continuous.md). A compacted object (megabytes of text)
 * counts as PREFETCH on its own, so at most one waits beside the one applied.
 */
const PREFETCH = 12;

type Fetched = { sql: string } | { err: unknown };

/** A checked segment waiting for the SQLite worker, with the point the walk had reached before it. */
interface Queued {
  sql: string;
  key: string;
  first: number;
  last: number;
  before: NewestPoint;
}

/**
 * When SQLite could not write the staged database while applying the log (SQLITE_FULL: the disk
 * filled up; SQLITE_IOERR_*: a write the system refused, e.g. a file size limit or a failing disk),
 * the log is not what failed: the staging error to report instead of LogDamagedError, which would send
 * the user looking for damage in a log that is fine, and to an earlier point that would fail the same
 * way. Else null.
 */
export function stagedWriteFailure(err: unknown, dbPath: string, capped = false): StageError | null {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== "string" || !(code === "SQLITE_FULL" || code.startsWith("SQLITE_IOERR"))) return null;
  const dir = path.dirname(dbPath);
  let free = "";
  try {
    const fs = statfsSync(dir);
    free = `, ${((fs.bavail * fs.bsize) / 1024 ** 2).toFixed(0)} MiB free now`;
  } catch {
    // the directory is gone: the sentence without the free space
  }
  const what = (err as Error).message ?? code;
  if (code !== "SQLITE_FULL")
    return new StageError(
      `Writing the staged database under ${dir} failed while the log was applied (${what}, ${code}${free}): the system refused a write (a full disk, a file size limit, or a failing disk). The log was not found damaged: check that disk and restore again. ${UNCHANGED}`,
      "other",
      { cause: err },
    );
  const where = capped
    ? `The staged database under ${dir} cannot grow further while the log is applied: its disk has no room left beyond the ${mib(STAGING_RESERVE_BYTES)} staging leaves free for k3s (${what}${free}).`
    : `The disk under ${dir} filled up while the log was applied to the staged database (${what}${free}).`;
  return new StageError(
    `${where} The log is not damaged: free space there, or point LIFEBOAT_STATE_DIR at a disk with room on the server directory's filesystem, and restore again. ${UNCHANGED}`,
    "no_space",
    { cause: err },
  );
}

/** Segments SQLite refused (or the index build after a bulk load): the revisions they held, and the point before them. */
interface NotApplied {
  err: unknown;
  first: number;
  last: number;
  segment: string | null;
  before: NewestPoint;
}

/**
 * Applies segments to `dbPath` up to `target`. Throws LogDamagedError (naming the lost revisions and
 * the newest point before them) when a segment in the way is missing, unreadable, cut short or not the
 * one its name says (the database is then left at that newest point), and when SQLite refuses a
 * segment's rows (kine's UNIQUE index; the database is then as SQLite left it, for the caller to drop).
 * Throws StageError instead when SQLite could not write the staged database (a full disk: stagedWriteFailure).
 */
export async function applyLog(opts: ApplyOptions): Promise<ApplyResult> {
  return prepareLog(opts).applyTo(opts.dbPath, opts.maxBytes);
}

/** A log being fetched for a database still to come (see prepareLog). */
export interface PreparedLog {
  /** applyLog on `dbPath`, with the segments fetched so far, growing it to `maxBytes` at most (ApplyOptions). Once only. */
  applyTo(dbPath: string, maxBytes?: number): Promise<ApplyResult>;
  /** Stops what was started for a base that will not come (its staging failed): applyTo is then never called. Never rejects. */
  dispose(): Promise<void>;
  /** Resolves once the run applied ahead has taken all it will on its own (tests: a restore never waits for it). */
  aheadIdle(): Promise<void>;
}

/**
 * Starts fetching and decoding the first segments now, while the caller still stages the base
 * (stage-point.ts): its download, its worker thread's start and its check then overlap with the
 * log's decryption instead of coming before it. A segment that fails to arrive fails nothing here:
 * applyTo meets the failure where applyLog would. `startAfter` holds the decoding back until it
 * settles (it must settle before applyTo is called): the first objects are asked for at once, so a
 * remote store's round trips overlap the base's, and decoded (their keys asked for) only after it.
 */
export function prepareLog(opts: Omit<ApplyOptions, "dbPath"> & { startAfter?: Promise<void>; baseRevision?: number }): PreparedLog {
  const sorted = (xs: SegmentName[]) => [...xs].sort((a, b) => a.first - b.first);
  let segments = sorted(opts.segments);
  // Segments being fetched and decoded ahead, by index into `segments` (dropped when it is listed again).
  let ahead = new Map<number, Promise<Fetched>>();
  // The trailing run of objects, applied to a scratch database while the base is staged
  // (apply-ahead.ts); the walk's own prefetch stays below it (`horizon`) until it has taken what the
  // scratch holds, so no object is fetched and decoded twice.
  const run = opts.baseRevision !== undefined ? aheadRun(segments, opts.baseRevision, opts.target) : null;
  let horizon = run ? run.start : Infinity;
  let early: LogAhead | null = run ? startAhead(segments, run, opts.target, { fetch: (k) => fetch(k), forget: (k) => ahead.delete(k) }, opts.startAfter) : null;
  let closing: Promise<void> = Promise.resolve();
  /** Stops the run applied ahead and closes its scratch (once); resolves when it is closed. */
  const dropEarly = (): Promise<void> => {
    horizon = Infinity;
    if (early) closing = early.close();
    early = null;
    return closing;
  };
  // Bodies asked for before `startAfter` settled, not decoding yet: let go of if the log is dropped
  // (a base that fails to stage never settles it).
  const waiting = new Set<Promise<Readable>>();
  const fetch = (k: number): Promise<Fetched> => {
    let p = ahead.get(k);
    if (!p) {
      const body = opts.open(segments[k].key);
      body.catch(() => {}); // met below, once decoding may start
      p = (async () => {
        if (opts.startAfter) {
          waiting.add(body);
          try {
            await opts.startAfter;
          } finally {
            waiting.delete(body);
          }
        }
        // While the run ahead has a worker, the log's key is derived there (this thread stages the base).
        const derive = early?.derive;
        return { sql: await decodeSegment(await body, opts.passphrase, derive) };
      })().catch((err: unknown) => ({ err }));
      ahead.set(k, p);
    }
    return p;
  };
  /** Starts fetching the segments after `i` that the walk will apply, up to PREFETCH's worth. */
  const prefetch = (i: number, budget = PREFETCH) => {
    for (let k = i + 1; k < segments.length && budget > 0; k++) {
      if (segments[k].first > opts.target || k >= horizon) break;
      budget -= segments[k].compacted ? PREFETCH : 1;
      if (budget >= 0 || k === i + 1) void fetch(k);
    }
  };
  // While the base is staged nothing is applied yet: twice the budget, so two compacted objects (a
  // day folded and the next day's window) are both decoded by the time the walk starts, as the walk
  // itself would hold one applied and one waiting. Asked for now; decoded once `startAfter` settles.
  prefetch(-1, 2 * PREFETCH);
  // The run ahead's first objects too, as its loop will ask for them (apply-ahead.ts).
  if (run) for (const k of firstOfRun(segments, run)) void fetch(k);
  return {
    applyTo: (dbPath, maxBytes) =>
      walk(dbPath, maxBytes, {
        segments: () => segments,
        take: async (i) => {
          const got = await fetch(i);
          ahead.delete(i);
          prefetch(i);
          return got;
        },
        relisted: (xs) => {
          segments = sorted(xs);
          ahead = new Map();
          // The run's indices were into the old list.
          void dropEarly();
        },
        early: () => early,
        dropEarly,
        prefetchFrom: (k) => {
          horizon = Infinity;
          prefetch(k - 1);
        },
      }),
    dispose: async () => {
      for (const body of waiting)
        void body.then(
          (b) => b.destroy(),
          () => {},
        );
      waiting.clear();
      await dropEarly();
      ahead = new Map();
    },
    aheadIdle: async () => early?.idle,
  };

  async function walk(
    dbPath: string,
    maxBytes: number | undefined,
    log: {
      segments(): SegmentName[];
      take(i: number): Promise<Fetched>;
      relisted(xs: SegmentName[]): void;
      early(): LogAhead | null;
      dropEarly(): Promise<void>;
      /** Lifts the prefetch's horizon and starts fetching from index k on. */
      prefetchFrom(k: number): void;
    },
  ): Promise<ApplyResult> {
    // SQLite on a worker thread: while it applies one segment, this thread fetches, decrypts and
    // decompresses the next ones (they took as long as the SQL, one after the other on one thread).
    const worker = takeSqliteWorker();
    const step = (s: LogApplyStep) => worker.run({ kind: "log-apply", step: s });
    // Segments checked and waiting for the worker, sent as one step whenever it is free: it never
    // waits for this thread to notice its answer between two segments. At most PREFETCH's worth wait
    // (a compacted object counts as PREFETCH), so the walk stays that far ahead, no farther.
    let queued: Queued[] = [];
    let queuedWeight = 0;
    let running: Promise<void> | null = null;
    let failed: NotApplied | null = null;
    const pump = () => {
      if (running || failed || queued.length === 0) return;
      const batch = queued;
      queued = [];
      queuedWeight = 0;
      running = step({ op: "exec", dbPath, sqls: batch.map((q) => q.sql) }).then(
        () => {
          running = null;
          pump();
        },
        (err: unknown) => {
          running = null;
          const only = batch.length === 1 ? batch[0].key : null;
          failed = { err, first: batch[0].first, last: batch[batch.length - 1].last, segment: only, before: batch[0].before };
        },
      );
    };
    /** A refusal of SQLite's as the walk's error: the revisions lost and the newest point before them. */
    const notApplied = (f: NotApplied): LogDamagedError | StageError => {
      const disk = stagedWriteFailure(f.err, dbPath, maxBytes !== undefined);
      if (disk) return disk;
      const lostTo = Math.max(f.first, opts.logEnd ?? opts.target);
      const { revision, readAt } = f.before;
      return new LogDamagedError(
        `The log's ${f.segment ? `segment ${f.segment}` : `segments for revisions ${f.first}–${f.last}`} did not apply to the base (${(f.err as Error)?.message ?? String(f.err)}): a segment is damaged, or the log does not belong to this base. Revisions ${f.first}–${lostTo} of this log cannot be restored. The newest point before them is revision ${revision}${readAt ? ` (read at ${readAt})` : ""}: restore to it with --to-revision ${revision}.`,
        { lostFrom: f.first, lostTo, segment: f.segment, newestPoint: f.before },
      );
    };
    /** Waits until every queued segment is applied; throws LogDamagedError for one SQLite refused. */
    const drain = async () => {
      while (running) await running;
      if (failed) throw notApplied(failed);
    };
    let opened = false;
    try {
      const at = await step({ op: "open", dbPath, maxBytes });
      opened = true;
      let { revision, compact } = at!;
      const baseRevision = revision;
      // Whether to drop kine's indexes for a bulk load is decided at the first rows the walk sends (a
      // segment's text, or the run applied ahead): by then the first compacted objects are decoded, and
      // only their text tells how many rows they bring.
      let bulkDecided = false;
      const decideBulk = async (inHand: string | null, held = 0, from = revision) => {
        if (bulkDecided) return;
        bulkDecided = true;
        const rowsAhead = held + logRowsAhead(log.segments(), from, opts.target) + compactedRowsAhead(log.segments(), from, opts.target, inHand);
        await step({ op: "bulk", dbPath, rowsAhead });
      };
      let applied = 0;
      let appliedAhead = 0;
      let compactedAhead = 0;
      let readAt: string | null = null;
      // Ghosts the run applied ahead copied in (witnesses): deleted after the compaction, which they took part in.
      let witnesses: number[] = [];
      /** The last step: after a bulk load it builds kine's UNIQUE index, which the whole log must keep. */
      const finishStep = () =>
        step({ op: "finish", dbPath, target: opts.target, compact, drop: witnesses }).catch((err: unknown) => {
          throw notApplied({ err, first: baseRevision + 1, last: revision, segment: null, before: { revision: baseRevision, readAt: null } });
        });
      const finish = async () => {
        await drain();
        await finishStep();
        revision = Math.min(revision, opts.target);
      };
      const stop = async (from: number, segment: string | null, why: string): Promise<never> => {
        await finish();
        const lostTo = Math.max(from, opts.logEnd ?? opts.target);
        throw new LogDamagedError(
          `${why} Revisions ${from}–${lostTo} of this log cannot be restored. The newest point before the damage is revision ${revision}${readAt ? ` (read at ${readAt})` : ""}: restore to it with --to-revision ${revision}.`,
          { lostFrom: from, lostTo, segment, newestPoint: { revision, readAt } },
        );
      };
      /** The walk is past `seg` (applied, or sent to be): the point it reached. */
      const passed = (seg: SegmentName, header: SegmentHeader) => {
        applied++;
        // Inside the segment the compact revision at the target is unknown; the one before it is safe (it keeps more rows).
        if (seg.last <= opts.target) {
          compact = Math.max(compact, header.compactRevision);
          readAt = header.readAt;
        }
        revision = Math.min(seg.last, opts.target);
      };
      /** At the run applied ahead (index i): what the scratch holds is copied in at once, then the walk's prefetch goes on after it. */
      const takeAhead = async (early: LogAhead, i: number) => {
        await drain();
        const held = revision === early.run.after ? await early.settle() : [];
        if (held.length) {
          const upTo = Math.min(held[held.length - 1].segment.last, opts.target);
          await decideBulk(
            null,
            held.reduce((n, h) => n + h.rows, 0),
            upTo,
          );
          try {
            witnesses = await early.merge(dbPath, upTo, maxBytes);
            // The compacted objects' DELETEs and counter UPDATE, in their order, after their rows and the later ones (ahead-session.ts, readText).
            const tails = held.flatMap((h) => h.tail);
            if (tails.length) await step({ op: "exec", dbPath, sqls: [`BEGIN;\n${tails.join("")}COMMIT;\n`] });
          } catch (err) {
            await log.dropEarly();
            throw notApplied({ err, first: revision + 1, last: upTo, segment: null, before: { revision, readAt } });
          }
          appliedAhead = held.length;
          compactedAhead = early.ghosts();
          for (const h of held) passed(h.segment, h.header);
        }
        await log.dropEarly();
        let next = i;
        while (next < log.segments().length && log.segments()[next].last <= revision) next++;
        log.prefetchFrom(next);
      };
      let relists = 0;
      for (let i = 0; i < log.segments().length; i++) {
        const early = log.early();
        if (early && i === early.run.start) await takeAhead(early, i);
        const seg = log.segments()[i];
        if (revision >= opts.target) break;
        if (seg.last <= revision) continue;
        if (seg.first > revision + 1) await stop(revision + 1, null, `The log has no segment for revisions ${revision + 1}–${seg.first - 1} (one is missing).`);
        const got = await log.take(i);
        if ("err" in got) {
          const err = got.err;
          if (opts.relist && relists < RELISTS && hasErrorCode(err, "storage_not_found")) {
            // Folded away since the listing: what was applied stays (a compacted object over it gives
            // the same database), the walk goes on from this revision through the new list.
            relists++;
            log.relisted(await opts.relist());
            i = -1;
            continue;
          }
          await stop(seg.first, seg.key, `Segment ${seg.key} could not be read (${(err as Error).message}).`);
        }
        const sql = (got as { sql: string }).sql;
        const header = wholeSegmentHeader(sql, seg);
        if (!header) await stop(seg.first, seg.key, `Segment ${seg.key} is damaged (its text is not the whole segment its name says).`);
        await decideBulk(seg.compacted ? sql : null);
        queued.push({ sql, key: seg.key, first: Math.max(seg.first, revision + 1), last: Math.min(seg.last, opts.target), before: { revision, readAt } });
        queuedWeight += seg.compacted ? PREFETCH : 1;
        pump();
        while (queuedWeight >= PREFETCH && running) await running;
        if (failed) throw notApplied(failed);
        passed(seg, header!);
      }
      if (revision < opts.target && opts.logEnd !== undefined && opts.logEnd > revision)
        await stop(revision + 1, null, `The log ends at revision ${revision}, before ${opts.target}.`);
      await drain();
      const end = await finishStep();
      return {
        revision: end!.revision,
        compactRevision: compact,
        segmentsApplied: applied,
        readAt,
        bulkLoad: (end!.indexesRebuilt ?? 0) > 0,
        appliedAhead,
        compactedAhead,
      };
    } finally {
      await log.dropEarly();
      // A step still running (the walk threw while it applied) ends before the connection closes.
      await running;
      if (opened) await step({ op: "close", dbPath }).catch(() => null);
      releaseSqliteWorker(worker);
      if (opts.durable) fsyncPath(dbPath);
    }
  }
}

/**
 * The rows the compacted objects of a walk from `revision` to `target` bring, as far as can be told
 * before they are applied: those of `inHand` (the first one's text, counted), and as many again for
 * each other compacted object (a fold keeps kine's live rows, so one window's count is the best guess
 * for the next). 0 without a text in hand.
 */
export function compactedRowsAhead(segments: SegmentName[], revision: number, target: number, inHand: string | null): number {
  if (inHand === null) return 0;
  const objects = segments.filter((s) => s.compacted && s.last > revision && s.first <= target).length;
  return objects * countRowStatements(inHand);
}

/**
 * The rows a walk from `revision` (the base's) to `target` inserts at most (apply-session.ts drops
 * kine's indexes for a bulk load when they outnumber the base's). An uncompacted segment holds one row
 * per revision at most (kine writes one row a revision); a compacted object is not counted: it keeps
 * only what kine's compaction left, which its name does not tell.
 */
export function logRowsAhead(segments: SegmentName[], revision: number, target: number): number {
  let rows = 0;
  for (const s of segments) {
    if (s.compacted || s.last <= revision || s.first > target) continue;
    rows += Math.min(s.last, target) - Math.max(s.first, revision + 1) + 1;
  }
  return rows;
}
