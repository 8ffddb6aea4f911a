import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { Readable } from "node:stream";
import { tmpdir } from "node:os";
import path from "node:path";
import { FsBackupStore } from "../../lib/storage/fs-backup-store";
import { parseSegmentKey, segmentKey, type SegmentName } from "../../lib/contracts/continuous";
import { buildMemoryLog, type MemoryLog } from "../testing/memory-log";
import { dumpKine } from "../testing/continuous-fixtures";
import { checkpointLog, compactLog, keepCheckpoints, type CheckpointResult } from "./compaction";
import { applyLog } from "./apply";
import { listLog } from "./log-listing";
import { withCheckpoint } from "./point-in-time";

/**
 * Checkpoints of the open window (compaction.ts checkpointLog, docs/continuous.md "Checkpoints"): the
 * window so far folded like a compacted object while its segments stay. A restore to a point after one
 * applies it and the few segments after it; it must land on the database the original segments give,
 * row for row, which is the live database at that point — from the log's base, and from a base taken
 * inside the checkpoint's range.
 */

const PASS = "checkpoint test passphrase";
const GEN = "20261203T120000Z";
let work: string;
let log: MemoryLog;
let store: FsBackupStore;
const runs: CheckpointResult[] = [];
const opts = (now: Date) => ({ passphrase: PASS, windowHours: 24, now, scratchDir: path.join(work, "scratch") });

async function put(segs: SegmentName[]): Promise<void> {
  for (const s of segs) await store.put(s.key, Readable.from([log.objects.get(s.key)!]));
}

/** Applies `segments` to revision `target` on a copy of the base (or of `from`), and dumps it. */
async function restore(name: string, segments: SegmentName[], target: number, open: (k: string) => Promise<Readable>, from?: string) {
  const dbPath = from ? path.join(work, `${name}.db`) : log.stage(name);
  if (from) rmSync(dbPath, { force: true });
  if (from) (await import("node:fs")).copyFileSync(from, dbPath);
  await applyLog({ dbPath, segments, target, open, passphrase: PASS });
  return dumpKine(dbPath);
}

const fromStore = (k: string) => store.get(k);

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-checkpoint-"));
  mkdirSync(path.join(work, "log"));
  log = await buildMemoryLog(path.join(work, "log"), {
    seed: 43,
    pass: PASS,
    generation: GEN,
    minSegments: 60,
    ticks: 4,
    // kine compacts until segment 43, not after: the second checkpoint ends at its last compaction point, and the fold from it must too.
    compactAfter: Array.from({ length: 11 }, (_, k) => 4 * k + 3),
    compactRetain: 30,
  });
  store = new FsBackupStore(path.join(work, "store"));
  // The shipper's progress: a checkpoint after 25 segments, another after 45, then the rest shipped.
  for (const upTo of [25, 45]) {
    await put(log.segments.slice(upTo === 25 ? 0 : 25, upTo));
    runs.push(await checkpointLog(store, opts(log.segments[upTo - 1].readAt)));
  }
  await put(log.segments.slice(45));
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("checkpoints of the open window", () => {
  it("fold the window up to its last compaction point, the second from the first, and delete no segment", async () => {
    const [a, b] = runs.map((r) => r.written!);
    expect(a).toBeTruthy();
    expect(b).toBeTruthy();
    expect(a.first).toBe(log.segments[0].first);
    expect(a.last).toBeLessThanOrEqual(log.segments[24].last);
    expect(b.first).toBe(a.first);
    expect(b.last).toBeGreaterThan(a.last);
    // The second read the first checkpoint and the segments after it, not the whole window again.
    expect(b.segmentsFolded).toBeLessThan(log.segments.filter((s) => s.last <= b.last).length);
    expect(a.rowsKept).toBeLessThan(a.last - a.first + 1);
    const [gen] = await listLog(store);
    expect(gen.segments.map((s) => s.key)).toEqual(log.segments.map((s) => s.key));
    // Both stay: the first is within two hours of the second's read.
    expect(gen.checkpoints.map((c) => c.key)).toEqual([a.key, b.key]);
    expect(gen.checkpoints.every((c) => c.checkpoint && c.compacted)).toBe(true);
  });

  it("every point after a checkpoint restores through it as through the original segments, and as the live database was", async () => {
    const [gen] = await listLog(store);
    const ends = log.segments.filter((s) => s.last > runs[0].written!.last);
    let usedSecond = 0;
    for (const s of ends.filter((_, i) => i % 4 === 0 || i === ends.length - 1)) {
      const needed = gen.segments.filter((x) => x.last > log.baseRevision && x.first <= s.last);
      const plan = withCheckpoint(needed, gen.checkpoints, log.baseRevision, s.last);
      const cp = plan.find((x) => x.checkpoint);
      expect(cp).toBeTruthy();
      expect(plan.length).toBeLessThan(needed.length);
      if (cp!.key === runs[1].written!.key) usedSecond++;
      const through = await restore(`cp-${s.last}`, plan, s.last, fromStore);
      const originals = await restore(`orig-${s.last}`, log.segments, s.last, log.open);
      expect(through).toEqual(originals);
      expect(through.rows).toEqual(dumpKine(log.copyAt(s.last)).rows);
    }
    expect(usedSecond).toBeGreaterThan(0);
  }, 120_000);

  it("a point before the first checkpoint's end is applied from the segments, as before", async () => {
    const [gen] = await listLog(store);
    const p = log.segments[5].last;
    const needed = gen.segments.filter((x) => x.first <= p);
    expect(withCheckpoint(needed, gen.checkpoints, log.baseRevision, p)).toEqual(needed);
  });

  it("a base taken inside a checkpoint's range: the checkpoint over it gives what the segments after the base give", async () => {
    const [gen] = await listLog(store);
    const b = log.segments[10].last; // inside both checkpoints' ranges
    const base = path.join(work, "mid-base.db");
    const staged = log.stage("mid-base-stage");
    await applyLog({ dbPath: staged, segments: log.segments, target: b, open: log.open, passphrase: PASS });
    (await import("node:fs")).copyFileSync(staged, base);
    const p = log.segments[log.segments.length - 1].last;
    const needed = gen.segments.filter((x) => x.last > b && x.first <= p);
    const plan = withCheckpoint(needed, gen.checkpoints, b, p);
    expect(plan.some((x) => x.checkpoint && x.first <= b)).toBe(true);
    const through = await restore("mid-cp", plan, p, fromStore, base);
    const originals = await restore("mid-orig", needed, p, log.open, base);
    expect(through).toEqual(originals);
    expect(through.rows).toEqual(dumpKine(log.copyAt(p)).rows);
  }, 60_000);

  it("a checkpoint that does not line up with the segments is passed over", () => {
    const seg = (first: number, last: number, extra: Partial<SegmentName> = {}): SegmentName => ({
      generation: GEN,
      first,
      last,
      readAt: new Date(Date.UTC(2026, 11, 3, 12, 0, last)),
      key: `k-${first}-${last}${extra.checkpoint ? "-cp" : extra.compacted ? "-c" : ""}`,
      ...extra,
    });
    const segs = [seg(1, 10), seg(11, 20), seg(21, 30), seg(31, 40)];
    // Ends inside a segment (not at a segment's end).
    expect(withCheckpoint(segs, [seg(1, 25, { checkpoint: true, compacted: true })], 0, 40)).toEqual(segs);
    // A compacted object straddles it (its window folded with another cut).
    const folded = [seg(1, 30, { compacted: true }), seg(31, 40)];
    expect(withCheckpoint(folded, [seg(1, 20, { checkpoint: true, compacted: true })], 0, 40)).toEqual(folded);
    // Ends after the point.
    expect(withCheckpoint(segs, [seg(1, 30, { checkpoint: true, compacted: true })], 0, 20)).toEqual(segs);
    // Lines up: it stands in for the three segments it folded.
    expect(withCheckpoint(segs, [seg(1, 30, { checkpoint: true, compacted: true })], 0, 40).map((s) => s.key)).toEqual(["k-1-30-cp", "k-31-40"]);
  });

  it("names a checkpoint apart from a compacted object and a segment", () => {
    const t = new Date(Date.UTC(2026, 11, 3, 12, 30, 0, 200));
    const cp = segmentKey(GEN, 5, 90, t, "checkpoint");
    expect(cp).toBe("lifeboat-log_20261203T120000Z_000000000005-000000000090_20261203T123001Z.checkpoint.sql.zst.gpg");
    expect(parseSegmentKey(`some/prefix/${cp}`)).toMatchObject({ first: 5, last: 90, compacted: true, checkpoint: true });
    expect(parseSegmentKey(segmentKey(GEN, 5, 90, t, true))).not.toHaveProperty("checkpoint");
    expect(parseSegmentKey(segmentKey(GEN, 5, 90, t))).not.toHaveProperty("compacted");
    expect(parseSegmentKey(cp.replace(".checkpoint.", ".checkpoints."))).toBeNull();
  });

  it("keeps every checkpoint of the last two hours and the newest of each quarter hour before", () => {
    const at = (h: number, m: number) => new Date(Date.UTC(2026, 11, 3, h, m));
    const cps = [at(8, 5), at(8, 10), at(8, 20), at(9, 5), at(9, 55), at(10, 30), at(10, 50), at(11, 40)].map((readAt, i): SegmentName => ({
      generation: GEN,
      first: 1,
      last: 10 * (i + 1),
      readAt,
      key: `c${i}`,
    }));
    const keep = keepCheckpoints(cps, at(11, 45));
    // 08:05 and 08:10 share a quarter hour (08:00–08:15): only the newer stays.
    expect(cps.filter((c) => keep.has(c)).map((c) => c.key)).toEqual(["c1", "c2", "c3", "c4", "c5", "c6", "c7"]);
  });

  it("a damaged checkpoint is dropped: the next run folds the window from its segments, and a fold goes on without it", async () => {
    const damage = async (to: FsBackupStore, key: string) => {
      const bytes = Buffer.concat((await (await to.get(key)).toArray()) as Buffer[]);
      bytes[Math.floor(bytes.length / 2)] ^= 0xff;
      await to.put(key, Readable.from([bytes]));
    };
    const [before] = await listLog(store);
    const last = before.checkpoints[before.checkpoints.length - 1];
    // A copy of the store as it is now, for the fold below.
    const copy = new FsBackupStore(path.join(work, "store-damaged"));
    for (const c of [...before.segments, ...before.checkpoints]) await copy.put(c.key, await store.get(c.key));
    await damage(store, last.key);
    const r = await checkpointLog(store, opts(log.segments[log.segments.length - 1].readAt));
    expect(r.deleted).toContain(last.key);
    expect(r.written?.first).toBe(log.segments[0].first);
    expect(r.written!.last).toBeGreaterThanOrEqual(last.last);
    // (Here no compaction point came since, so the new one ends where the damaged one did, under its name.)
    const [gen] = await listLog(store);
    // Every point after it still restores as the live database was, through the new checkpoint.
    const p = log.segments[log.segments.length - 1].last;
    const plan = withCheckpoint(gen.segments, gen.checkpoints, log.baseRevision, p);
    expect(plan.some((x) => x.key === r.written!.key)).toBe(true);
    expect((await restore("after-damage", plan, p, fromStore)).rows).toEqual(dumpKine(log.copyAt(p)).rows);
    // The window's fold, its newest checkpoint damaged: folded from the segments all the same.
    await damage(copy, last.key);
    const done = await compactLog(copy, { ...opts(new Date(Date.UTC(2026, 11, 4, 1))), scratchDir: path.join(work, "scratch-damaged") });
    expect(done.length).toBe(1);
    const [folded] = await listLog(copy);
    expect(folded.checkpoints).toEqual([]);
    expect((await restore("fold-damaged", folded.segments, done[0].last, (k) => copy.get(k))).rows).toEqual(dumpKine(log.copyAt(done[0].last)).rows);
  }, 60_000);

  it("the fold of the window, once it has closed, replaces its checkpoints: they are deleted", async () => {
    const nextDay = new Date(Date.UTC(2026, 11, 4, 1));
    const done = await compactLog(store, opts(nextDay));
    expect(done.length).toBe(1);
    const [gen] = await listLog(store);
    expect(gen.checkpoints).toEqual([]);
    const folded = gen.segments.find((s) => s.compacted)!;
    expect(folded.key).toBe(done[0].key);
    // It started from the newest checkpoint: it read that and the segments after it, not the whole window.
    expect(done[0].segmentsFolded).toBeLessThan(log.segments.filter((s) => s.last <= folded.last).length / 2);
    // Every original it replaces is gone; what follows its cut stays.
    expect(gen.segments.filter((s) => !s.compacted).map((s) => s.key)).toEqual(log.segments.filter((s) => s.last > folded.last).map((s) => s.key));
    expect(folded.first).toBe(log.segments[0].first);
    // It ends where the fold of the original segments ends (the window's last compaction point), with
    // the same rows kept: the checkpoint is a shortcut, not another fold.
    const plain = new FsBackupStore(path.join(work, "store-plain"));
    for (const s of log.segments) await plain.put(s.key, Readable.from([log.objects.get(s.key)!]));
    const [fromOriginals] = await compactLog(plain, { ...opts(nextDay), scratchDir: path.join(work, "scratch-plain") });
    expect(done[0].last).toBe(fromOriginals.last);
    expect(done[0].rowsKept).toBe(fromOriginals.rowsKept);
    // Its end restores as the original segments give it, and as the live database was.
    const through = await restore("fold-end", gen.segments, folded.last, fromStore);
    expect(through).toEqual(await restore("fold-end-orig", log.segments, folded.last, log.open));
    expect(through.rows).toEqual(dumpKine(log.copyAt(folded.last)).rows);
    // A checkpoint run now finds nothing to delete; what it may fold is only what was read after the
    // fold's cut (it waits for the next window's fold), never inside the folded object.
    const r = await checkpointLog(store, opts(nextDay));
    expect(r.deleted).toEqual([]);
    if (r.written) expect(r.written.first).toBe(folded.last + 1);
  }, 60_000);
});
