import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type { EmbeddedS3 } from "../../lib/storage/embedded-s3";
import { hasErrorCode } from "../../lib/contracts/errors";
import { readPassphrase } from "../config";
import type { AgentDeps } from "../module";
import type { RunningKineWriter } from "../testing/kine-writer-process";
import { runDrill, type TestServer } from "../testing/restore-fixtures";
import {
  compactKine,
  dumpKine,
  startLogTest,
  stopLogTest,
  restoreToPoint,
  storedSegments,
  takeLogPoint,
  type LogPoint,
  restoredAndLive,
} from "../testing/continuous-fixtures";
import { LogShipper } from "./shipper";
import { closedWindows, compactLog, compactWindow, type CompactionResult } from "./compaction";
import { applyLog, prepareLog } from "./apply";
import { planPoint } from "./point-in-time";
import { effectiveSegments } from "./log-listing";
import { stageBackup } from "../restore/stage";
import { resolveSource } from "../restore/sources";

/**
 * Compaction of the log against real parts: the kine-like writer (compacting), the shipper, s3rver,
 * the real base backup and the restore's stager. Windows are 4 s wide so a short run has several, each wider than the 1000
 * revisions kine keeps (the writer at 10 ms ticks), so compaction has rows to drop.
 * Before compacting, the database at every window's end is restored from the original segments; after
 * compacting, the restore to each of those ends must equal it row for row, and the restore to a point
 * after the compacted windows must equal the live copy taken at it.
 */

const PASS = "compaction test passphrase";
const WINDOW_HOURS = 4 / 3600;
let work: string;
let s3: EmbeddedS3;
let server: TestServer;
let writer: RunningKineWriter | null = null;
let deps: AgentDeps;
let shipper: LogShipper;
let end: LogPoint;
let now: Date;
/** The database at each closed window's end, restored from the original segments. */
const boundaries: { revision: number; rows: string[] }[] = [];
let inside: number;
/** The log before any compaction, and the first compaction's folds (each ends at its cut). */
let originals: Awaited<ReturnType<typeof storedSegments>> = [];
let folded: CompactionResult[] = [];
/** The original segments' bytes, kept aside: compaction deletes them from the store. */
const originalBytes = new Map<string, Buffer>();

/** The database at `revision` applied from the original segments only (the planner would prefer compacted objects). */
async function fromOriginals(revision: number, name: string): Promise<string[]> {
  const plan = await planPoint(deps, "latest", { toRevision: end.revision });
  const src = await resolveSource(deps, { kind: "backup", setId: plan.baseSetId });
  const stagingDir = path.join(work, `staging-orig-${name}`);
  mkdirSync(stagingDir);
  const staged = await stageBackup(src, { stagingDir, maxBytes: 1 << 30, durable: false, passphrase: () => PASS });
  await applyLog({ dbPath: staged.dbPath, segments: originals, target: revision, open: async (k) => Readable.from([originalBytes.get(k)!]), passphrase: PASS });
  return dumpKine(staged.dbPath).rows;
}
/** The log as a restore listed it just before the compaction deleted the originals. */
let listedBefore: Awaited<ReturnType<typeof storedSegments>> = [];

/**
 * The restore to `revision` with every object of the log's run applied ahead, before the base is
 * staged (apply-ahead.ts: the compacted objects' rows in the scratch, their tails after the copy).
 */
async function rowsAhead(revision: number, name: string): Promise<string[]> {
  const plan = await planPoint(deps, "latest", { toRevision: revision });
  const src = await resolveSource(deps, { kind: "backup", setId: plan.baseSetId });
  const log = prepareLog({
    segments: plan.segments,
    target: plan.target,
    open: (k) => deps.store().get(k),
    passphrase: PASS,
    baseRevision: plan.baseRevision,
    startAfter: Promise.resolve(),
  });
  await log.aheadIdle();
  const stagingDir = path.join(work, `staging-ahead-${name}`);
  mkdirSync(stagingDir);
  const staged = await stageBackup(src, { stagingDir, maxBytes: 1 << 30, durable: false, passphrase: () => PASS });
  const applied = await log.applyTo(staged.dbPath);
  expect(applied.appliedAhead).toBe(plan.segments.length);
  return dumpKine(staged.dbPath).rows;
}

async function rowsAt(revision: number, name: string): Promise<string[]> {
  const { staged } = await restoreToPoint(deps, "latest", { toRevision: revision }, path.join(work, `staging-${name}`));
  return dumpKine(staged.dbPath).rows;
}

/** The live copy's rows, after the compaction kine ran after its last write (no segment carries that one). */
async function expectEqualsLive(revision: number, p: LogPoint, name: string): Promise<void> {
  const { staged } = await restoreToPoint(deps, "latest", { toRevision: revision }, path.join(work, `staging-${name}`));
  const { got, want } = restoredAndLive(staged.dbPath, p.copy);
  expect(got.compactRevision).toBe(want.compactRevision);
  expect(got.sequence).toBe(want.sequence);
  expect(got.rows).toEqual(want.rows);
}

function opts(extra: { beforeDelete?: () => Promise<void> } = {}) {
  return { passphrase: PASS, windowHours: WINDOW_HOURS, now, scratchDir: path.join(work, "scratch"), ...extra };
}

beforeAll(async () => {
  ({ work, s3, server, writer, deps } = await startLogTest({
    passphrase: PASS,
    prefix: "cmp",
    seed: 71,
    marker: "marker-CMP",
    intervalMs: 10,
    compactEveryMs: 500,
  }));

  expect(readPassphrase(deps.config)).toBe(PASS);
  shipper = new LogShipper(deps, { intervalMs: 250, baseAtFirstStart: true });
  await shipper.tick();
  // Ship until at least three windows have closed (time-based, so a loaded machine just takes longer).
  const t0 = Date.now();
  for (;;) {
    await shipper.tick();
    await sleep(250);
    const segs = await storedSegments(deps.store());
    if (segs.length && closedWindows(segs, WINDOW_HOURS, segs[segs.length - 1].readAt).length >= 3 && Date.now() - t0 > 14_000) break;
    if (Date.now() - t0 > 150_000) throw new Error("three windows of the log did not close in 150 s");
  }
  end = await takeLogPoint(writer, shipper, server.dbPath, path.join(work, "point-end.db"));
  const segs = await storedSegments(deps.store());
  // "Now" is the last segment's read: its window is still open, every earlier one closed.
  now = segs[segs.length - 1].readAt;
  const windows = closedWindows(segs, WINDOW_HOURS, now);
  expect(windows.length).toBeGreaterThan(2);
  originals = segs;
  for (const seg of segs) originalBytes.set(seg.key, Buffer.concat((await (await deps.store().get(seg.key)).toArray()) as Buffer[]));
  for (const [i, w] of windows.entries()) boundaries.push({ revision: w[w.length - 1].last, rows: await rowsAt(w[w.length - 1].last, `before-${i}`) });
  const mid = windows[1];
  inside = Math.floor((mid[0].first + mid[mid.length - 1].last) / 2);
}, 240_000);

afterAll(() => stopLogTest({ shipper, writer, s3, work }));

describe("compaction of the log (real writer, shipper, s3rver, base backup)", () => {
  it("a crash between writing the compacted object and deleting the originals leaves duplicates, never a gap; the apply tolerates them", async () => {
    const before = await storedSegments(deps.store());
    const done = await compactLog(deps.store(), opts({ beforeDelete: () => Promise.reject(new Error("crash (test)")) }));
    expect(done).toEqual([]); // every window stopped at the "crash"
    const after = await storedSegments(deps.store());
    const originals = after.filter((s) => !s.compacted);
    expect(originals.map((s) => s.key)).toEqual(before.map((s) => s.key));
    expect(after.filter((s) => s.compacted).length).toBe(boundaries.length);
    // The apply itself, given originals and compacted objects together (as sorted by revision), lands on the same database.
    const plan = await planPoint(deps, "latest", { toRevision: end.revision });
    const src = await resolveSource(deps, { kind: "backup", setId: plan.baseSetId });
    const stagingDir = path.join(work, "staging-raw");
    mkdirSync(stagingDir);
    const staged = await stageBackup(src, { stagingDir, maxBytes: 1 << 30, durable: false, passphrase: () => PASS });
    await applyLog({ dbPath: staged.dbPath, segments: after, target: end.revision, open: (k) => deps.store().get(k), passphrase: PASS });
    const want = dumpKine(end.copy);
    if (dumpKine(staged.dbPath).compactRevision < want.compactRevision) compactKine(staged.dbPath, want.compactRevision);
    expect(dumpKine(staged.dbPath).rows).toEqual(want.rows);
    // And through the planner (which prefers the compacted objects).
    await expectEqualsLive(end.revision, end, "dup-end");
    for (const [i, b] of boundaries.entries()) expect(await rowsAt(b.revision, `dup-${i}`)).toEqual(b.rows);
  }, 240_000);

  it("folds every closed window into one object; every reachable point restores row for row, a point after them equals the live copy", async () => {
    const before = await storedSegments(deps.store());
    listedBefore = before.filter((s) => !s.compacted);
    const done = await compactLog(deps.store(), opts());
    folded = done;
    expect(done.length).toBe(boundaries.length);
    expect(done.every((r) => r.failed.length === 0)).toBe(true);
    const after = await storedSegments(deps.store());
    expect(after.filter((s) => s.compacted).length).toBe(boundaries.length);
    expect(after.length).toBeLessThan(before.length);
    const bytes = (xs: { size: number }[]) => xs.reduce((n, s) => n + s.size, 0);
    expect(bytes(after)).toBeLessThan(bytes(before.filter((s) => !s.compacted)));
    // Every revision of a window was one row; kine's compaction at C kept fewer.
    expect(done.some((r) => r.rowsKept < r.last - r.first + 1)).toBe(true);
    // Each fold ends at its cut (the last segment read right after kine compacted): that point
    // restores as the original segments gave it; what was read after the cut went into the next window.
    for (const [i, r] of done.entries()) {
      expect(r.last).toBeLessThanOrEqual(boundaries[i].revision);
      const want = await fromOriginals(r.last, `after-${i}`);
      expect(await rowsAt(r.last, `after-${i}`)).toEqual(want);
      expect(await rowsAhead(r.last, `after-${i}`)).toEqual(want);
      if (i > 0) expect(r.first).toBe(done[i - 1].last + 1);
    }
    await expectEqualsLive(end.revision, end, "after-end");
  }, 240_000);

  it("a restore that listed the log before the compaction deleted its segments lists it again and lands on the same database", async () => {
    const stale = { segments: listedBefore, target: end.revision, open: (k: string) => deps.store().get(k), passphrase: PASS };
    const stage = async (name: string) => {
      const plan = await planPoint(deps, "latest", { toRevision: end.revision });
      const src = await resolveSource(deps, { kind: "backup", setId: plan.baseSetId });
      const stagingDir = path.join(work, name);
      mkdirSync(stagingDir);
      return { plan, staged: await stageBackup(src, { stagingDir, maxBytes: 1 << 30, durable: false, passphrase: () => PASS }) };
    };
    // Without listing again, the first folded segment is missing: the restore stops there.
    const a = await stage("staging-stale");
    const err = await applyLog({ ...stale, dbPath: a.staged.dbPath }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(hasErrorCode(err, "log_damaged")).toBe(true);
    // Listing again (as stagePoint does), it goes on through the compacted objects.
    const b = await stage("staging-relisted");
    const applied = await applyLog({ ...stale, dbPath: b.staged.dbPath, relist: async () => b.plan.segments });
    expect(applied.revision).toBe(end.revision);
    const { got, want } = restoredAndLive(b.staged.dbPath, end.copy);
    expect(got.rows).toEqual(want.rows);
  }, 120_000);

  it("a point inside a compacted window is refused with the nearest reachable points", async () => {
    const err = await planPoint(deps, "latest", { toRevision: inside }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(hasErrorCode(err, "no_log_point")).toBe(true);
    const nearest = ((err as { details: { nearest: number[] } }).details ?? {}).nearest;
    expect(nearest[1]).toBe(folded.find((r) => r.first <= inside && inside < r.last)?.last);
    expect((err as Error).message).toMatch(/cannot be restored/);
    // --to-time inside a fold ends at the fold's start, and the plan says which fold it could not enter.
    const segs = effectiveSegments(await storedSegments(deps.store()));
    const k = segs.findIndex((s, i) => s.compacted && i > 0 && segs[i - 1].readAt < s.readAt);
    expect(k).toBeGreaterThan(0);
    const fold = segs[k];
    const before = await planPoint(deps, "latest", { toTime: new Date(fold.readAt.getTime() - 1).toISOString() });
    expect(before.target).toBe(fold.first - 1);
    expect(before.foldedAfter).toMatchObject({ key: fold.key, first: fold.first, last: fold.last });
    const atEnd = await planPoint(deps, "latest", { toTime: fold.readAt.toISOString() });
    expect(atEnd.target).toBeGreaterThanOrEqual(fold.last);
    expect(atEnd.foldedAfter).toBeNull();
    const byRevision = await planPoint(deps, "latest", { toRevision: fold.first - 1 });
    expect(byRevision.foldedAfter).toBeNull();
    // The restore says so in its warnings, and ends where the plan said.
    const { job, record: rec } = await runDrill(deps, { kind: "backup", setId: "latest" }, { toTime: new Date(fold.readAt.getTime() - 1).toISOString() });
    expect(job.state, job.error ?? "").toBe("succeeded");
    expect(rec.point?.revision).toBe(fold.first - 1);
    expect(rec.verification?.warnings.join("\n")).toContain(`log compaction folded revisions ${fold.first}–${fold.last} into one object (${fold.key})`);
  }, 60_000);

  it("folds ended spans of compacted windows again: one object per span, its end still row for row, its inner window ends refused", async () => {
    const before = await storedSegments(deps.store());
    const foldHours = 2 * WINDOW_HOURS;
    const done = await compactLog(deps.store(), { ...opts(), foldHours });
    const folds = done.filter((r) => r.windowHours === foldHours);
    expect(folds.length).toBeGreaterThan(0);
    expect(folds.every((r) => r.failed.length === 0)).toBe(true);
    const after = await storedSegments(deps.store());
    expect(after.length).toBe(before.length - folds.reduce((n, r) => n + r.segmentsFolded - 1, 0));
    for (const f of folds) {
      // Each fold is smaller than what it folded: the inner windows' kine tails went.
      expect(f.bytesAfter).toBeLessThan(f.bytesBefore);
      // A span whose first window held a single segment (never compacted alone) has no inner end.
      const innerEnds = folded.filter((r) => f.first <= r.last && r.last < f.last);
      for (const r of innerEnds) {
        const err = await planPoint(deps, "latest", { toRevision: r.last }).then(
          () => null,
          (e: unknown) => e,
        );
        expect(hasErrorCode(err, "no_log_point")).toBe(true);
      }
      expect(folded.some((r) => r.last === f.last)).toBe(true);
      const want = await fromOriginals(f.last, `fold-${f.first}`);
      expect(await rowsAt(f.last, `fold-${f.first}`)).toEqual(want);
      expect(await rowsAhead(f.last, `fold-${f.first}`)).toEqual(want);
    }
    expect(folds.some((f) => folded.some((r) => f.first <= r.last && r.last < f.last))).toBe(true);
    await expectEqualsLive(end.revision, end, "fold-end");
  }, 240_000);

  it("a checkpoint of the open window: the planner takes it for a point after it, which still equals the live copy, applied ahead too", async () => {
    // From the last compacted object on (the open window alone may hold a single segment here: its
    // windows are 4 s wide): the checkpoint serve would write once the window has a few segments.
    const objs = effectiveSegments(await storedSegments(deps.store()));
    const cp = (await compactWindow(deps.store(), objs.slice(objs.map((x) => Boolean(x.compacted)).lastIndexOf(true)), opts(), WINDOW_HOURS, true))!;
    expect(cp.key).toMatch(/\.checkpoint\.sql\.zst\.gpg$/);
    expect(cp.last).toBeLessThanOrEqual(end.revision);
    const plan = await planPoint(deps, "latest", { toRevision: end.revision });
    expect(plan.segments.map((s) => s.key)).toContain(cp.key);
    // Its segments stay: a point inside it is still reachable, from them.
    const inner = (await storedSegments(deps.store())).find((s) => !s.compacted && s.first > cp.first && s.last < cp.last);
    if (inner) expect((await planPoint(deps, "latest", { toRevision: inner.last })).segments.some((s) => s.checkpoint)).toBe(false);
    await expectEqualsLive(end.revision, end, "checkpoint-end");
    expect(await rowsAhead(end.revision, "checkpoint-end")).toEqual(await fromOriginals(end.revision, "checkpoint-end"));
    // A damaged checkpoint (a flipped byte in its ciphertext) is only a lost shortcut: the restore
    // stages again from its segments and still lands on the live copy.
    const bytes = Buffer.concat((await (await deps.store().get(cp.key)).toArray()) as Buffer[]);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    await deps.store().put(cp.key, Readable.from([bytes]));
    expect((await planPoint(deps, "latest", { toRevision: end.revision })).segments.map((s) => s.key)).toContain(cp.key);
    await expectEqualsLive(end.revision, end, "checkpoint-damaged");
  }, 120_000);
});
