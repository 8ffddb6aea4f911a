import { randomUUID } from "node:crypto";
import type { SegmentName } from "../../lib/contracts/continuous";
import { releaseSqliteWorker, takeSqliteWorker } from "../sqlite/worker";
import { deriveS2kKeyAsync, type KeyDeriver } from "../archive/openpgp-native";
import type { LogAheadStep } from "./ahead-session";
import { wholeSegmentHeader, type SegmentHeader } from "./segment-format";

/**
 * Applying the log ahead (docs/continuous.md, "Restoring to a point"): a point restore used to stage
 * the base set and only then apply the log's segments, one after the other on a SQLite worker. The
 * segments of a window not compacted yet cost ~4 ms each, as much again as staging a small base. Now
 * the trailing run of objects (plain segments and compacted ones, each beginning where the one before
 * ends) starts on a second worker, into a scratch database (ahead-session.ts), as soon as the base's
 * first bytes arrive; when the walk over the log (apply.ts) reaches the run, it waits until the run
 * has taken and applied all it will (the rows kine's compaction at the point deletes are only known
 * then, and are mostly not applied at all: ahead-session.ts), then the scratch's rows are copied into
 * the staged base at once, the compacted objects' tails run there, and the walk goes on from the first
 * object the scratch did not take. Anything unusual (an object that will not fetch,
 * decode or apply, a listing that changed) stops the run there: the walk then meets it itself,
 * exactly as without this, so damage is reported the same way.
 */

/** The objects applied ahead: indices [start, end) of the sorted list, following revision `after`. */
export interface AheadRun {
  start: number;
  end: number;
  after: number;
}

/**
 * How much segment text the scratch takes at most: it stops taking segments there (the walk applies
 * the rest). It only has to cover what a base takes to stage; the scratch lives in SQLite's temporary
 * directory, which may be memory (tmpfs).
 */
const MAX_AHEAD_TEXT = 32 * 1024 * 1024;

/** How many segments are asked for ahead, and wait decoded for the scratch's worker, at most (as apply.ts's PREFETCH). */
const QUEUE = 12;

/**
 * The run applied ahead: the objects at the end of the walk (up to `target`), each beginning right
 * after the one before, the first right after the base or the object before it. Null when there is
 * none. `sorted` is the walk's list, by first revision.
 */
export function aheadRun(sorted: SegmentName[], baseRevision: number, target: number): AheadRun | null {
  let end = 0;
  while (end < sorted.length && sorted[end].first <= target) end++;
  // A compacted object cannot end past the target (the planner stops at its start or end): one that would is left to the walk.
  while (end > 0 && sorted[end - 1].compacted && sorted[end - 1].last > target) end--;
  let start = end;
  while (start > 0) {
    const s = sorted[start - 1];
    if (s.last <= baseRevision) break;
    if (start < end && sorted[start].first !== s.last + 1) break;
    start--;
  }
  // The run must begin exactly where what comes before it ends: the base, or the object before it.
  while (start < end) {
    const before = start > 0 && sorted[start - 1].last > baseRevision ? sorted[start - 1].last : baseRevision;
    if (sorted[start].first === before + 1 && (start === 0 || sorted[start - 1].last >= baseRevision)) {
      return { start, end, after: before };
    }
    start++;
  }
  return null;
}

type Fetched = { sql: string } | { err: unknown };

export interface AheadSource {
  /** The segment at index k of the walk's list, fetched and decoded (cached by the caller). */
  fetch(k: number): Promise<Fetched>;
  /** Forgets index k's cached text (the scratch has applied it). */
  forget(k: number): void;
}

/** A segment the scratch holds, with its header. */
export interface AheadApplied {
  segment: SegmentName;
  header: SegmentHeader;
  /** Its statements other than rows, to run on the staged database after the copy (ahead-session.ts, readText). */
  tail: string[];
  /** How many row INSERTs it held. */
  rows: number;
}

export interface LogAhead {
  readonly run: AheadRun;
  /** Resolves once the run has taken and applied all it will unless stopped (every segment, the text limit, or a segment it left to the walk). Never rejects. */
  readonly idle: Promise<void>;
  /** Resolves once the run is idle, with what the scratch holds (in order). Never rejects. */
  settle(): Promise<AheadApplied[]>;
  /** How many of the run's rows are ghosts, which kine's compaction at the point deletes (put in as witnesses or left out, ahead-session.ts). */
  ghosts(): number;
  /**
   * Copies the scratch's rows up to `upTo` into the staged database at `dbPath`; resolves with the ids of
   * the ghosts among them, which the restore deletes after its compaction (ahead-session.ts). Rejects
   * with SQLite's error.
   */
  merge(dbPath: string, upTo: number, maxBytes?: number): Promise<number[]>;
  /** Stops, closes the scratch (SQLite removes it) and gives the worker back. Never rejects; once is enough. */
  close(): Promise<void>;
  /**
   * Derives a passphrase key on the scratch's worker (decodeSegment's `derive`): the log's key, asked
   * when its first object arrives, while this thread stages the base and the worker waits for text.
   * Once the worker is given back, or if it fails, on this thread (sliced) instead.
   */
  derive: KeyDeriver;
}

/**
 * The indices of the run's objects its loop (startAhead) asks for first: its first object and the plain
 * segments after it, up to QUEUE. prepareLog asks for them as soon as it is called, so that a remote
 * store's round trips overlap the base's staging.
 */
export function firstOfRun(segments: SegmentName[], run: AheadRun): number[] {
  const first = [run.start];
  for (let j = run.start + 1; j < Math.min(run.end, run.start + 1 + QUEUE) && !segments[j].compacted; j++) first.push(j);
  return first;
}

/**
 * Starts applying `run` ahead (after `startAfter`, when given). `target` is the point: the compact
 * revision of the run's last segment at or below it is one the restore compacts to at least, so rows
 * that compaction deletes go into the scratch without their values (ahead-session.ts).
 */
export function startAhead(segments: SegmentName[], run: AheadRun, target: number, source: AheadSource, startAfter?: Promise<void>): LogAhead {
  const worker = takeSqliteWorker();
  const id = randomUUID();
  // The worker runs one task at a time: steps and key derivations (`derive`) queue here.
  let queue: Promise<unknown> = Promise.resolve();
  const onWorker = <T>(task: () => Promise<T>): Promise<T> => {
    const mine = queue.then(task);
    queue = mine.catch(() => undefined);
    return mine;
  };
  const step = (s: LogAheadStep) => onWorker(() => worker.run({ kind: "log-ahead", step: s }));
  const applied: AheadApplied[] = [];
  let ghostRows = 0;
  let stopped = false;
  let opened = false;
  // The worker failed a step (it stopped): what the scratch holds is not known, so none of it is used.
  let broken = false;
  let closed: Promise<void> | null = null;
  let released = false;
  // Stopping never waits for the base's first bytes (a base that fails to stage never sends them) or
  // for a fetch from the store (it may be stalled); only for SQL already sent to the worker.
  let stopNow!: () => void;
  const stopSignal = new Promise<null>((resolve) => (stopNow = () => resolve(null)));
  const unlessStopped = <T>(p: Promise<T>): Promise<{ v: T } | null> => Promise.race([p.then((v) => ({ v })), stopSignal]);
  const stop = () => {
    stopped = true;
    stopNow();
  };

  const done = (async () => {
    if (startAfter && !(await unlessStopped(startAfter))) return;
    if (stopped) return;
    try {
      await step({ op: "open", id, after: run.after, eager: segments.slice(run.start, run.end).every((x) => x.compacted) });
      opened = true;
    } catch {
      return; // no scratch (no temporary directory): the walk applies every segment
    }
    // Texts are read on the worker as they come and held there until the run has all it will take,
    // then applied at once ("flush"): only then is it known which rows the point's compaction deletes.
    // A run of compacted objects only is applied as it comes ("eager": few of their rows are left out).
    let queued: { segment: SegmentName; header: SegmentHeader; sql: string }[] = [];
    const held: AheadApplied[] = [];
    let running: Promise<void> | null = null;
    let refused = false;
    let text = 0;
    const pump = () => {
      if (running || broken || refused || queued.length === 0) return;
      const batch = queued;
      queued = [];
      running = step({ op: "exec", id, sqls: batch.map((b) => b.sql), compacted: batch.map((b) => b.segment.compacted === true) }).then(
        (r) => {
          running = null;
          // The first `applied` ran at once (eager); those read after them are held.
          const read = r.tails?.length ?? 0;
          batch.slice(0, read).forEach((b, k) => {
            const got = { segment: b.segment, header: b.header, tail: r.tails?.[k] ?? [], rows: r.rowStatements?.[k] ?? 0 };
            (k < (r.applied ?? 0) ? applied : held).push(got);
          });
          if (r.error !== undefined) refused = true;
          pump();
        },
        () => {
          running = null;
          broken = true;
        },
      );
    };
    for (let k = run.start; k < run.end; k++) {
      if (stopped || broken || refused) break;
      // Plain segments are fetched a few ahead; a compacted object (megabytes of text) only once reached.
      for (let j = k + 1; j < Math.min(run.end, k + 1 + QUEUE) && !segments[j].compacted; j++) void source.fetch(j);
      const fetched = await unlessStopped(source.fetch(k));
      if (!fetched || stopped || "err" in fetched.v) break;
      const got = fetched.v;
      const seg = segments[k];
      const header = wholeSegmentHeader(got.sql, seg);
      if (!header) break;
      // Past the scratch's limit the walk takes it (it stays fetched for the walk).
      if (text + got.sql.length > MAX_AHEAD_TEXT) break;
      source.forget(k);
      text += got.sql.length;
      queued.push({ segment: seg, header, sql: got.sql });
      pump();
      while (queued.length >= QUEUE && running) await running;
    }
    pump();
    while (running) await running;
    if (stopped || broken || held.length === 0) return;
    // The restore compacts at least to the compact revision of the last held segment at or below the point.
    const compact = held.reduce((c, h) => (h.segment.last <= target ? Math.max(c, h.header.compactRevision) : c), 0);
    try {
      const r = await step({ op: "flush", id, compact });
      applied.push(...held.slice(0, r.applied ?? 0));
      ghostRows = r.ghosts ?? 0;
    } catch {
      broken = true;
    }
  })().catch(() => {});

  const close = (): Promise<void> =>
    (closed ??= (async () => {
      stop();
      await done;
      if (opened) await step({ op: "close", id }).catch(() => null);
      await onWorker(async () => {
        released = true;
        releaseSqliteWorker(worker);
      });
    })());

  return {
    run,
    idle: done,
    settle: async () => {
      await done;
      return broken ? [] : [...applied];
    },
    ghosts: () => (broken ? 0 : ghostRows),
    merge: async (dbPath, upTo, maxBytes) => (await step({ op: "merge", id, into: dbPath, upTo, maxBytes })).witnesses ?? [],
    derive: (s2k, passphrase, keyLen) =>
      onWorker(async () => {
        // Once the worker is given back (or if it failed), here, as any other key.
        if (released) return deriveS2kKeyAsync(s2k, passphrase, keyLen);
        return Buffer.from(await worker.run({ kind: "s2k", s2k, passphrase, keyLen }));
      }).catch(() => deriveS2kKeyAsync(s2k, passphrase, keyLen)),
    close,
  };
}
