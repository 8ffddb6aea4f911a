import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { Readable } from "node:stream";
import { tmpdir } from "node:os";
import path from "node:path";
import { FsBackupStore } from "../../lib/storage/fs-backup-store";
import type { SegmentName } from "../../lib/contracts/continuous";
import { buildMemoryLog, type MemoryLog } from "../testing/memory-log";
import { dumpKine } from "../testing/continuous-fixtures";
import { checkpointLog, compactLog, type CheckpointResult, type CompactionResult } from "./compaction";
import { applyLog } from "./apply";
import { listLog } from "./log-listing";

/**
 * A checkpoint written before the previous window's fold: the fold moves that window's last segments
 * (read after its cut) into this window, so the checkpoint no longer begins with the window. The next
 * checkpoint run must still go on from it (not fold the window again from its start), and the
 * window's fold must use it and end where a fold of the original segments ends, with the same rows.
 * Windows are 5 minutes wide: segments 0–29 in the first, 30–59 in the second.
 */

const PASS = "checkpoint windows passphrase";
const GEN = "20261203T120000Z";
const WINDOW_HOURS = 5 / 60;
let work: string;
let log: MemoryLog;
let store: FsBackupStore;
let plain: FsBackupStore;
let early: CheckpointResult;
let later: CheckpointResult;
let foldA: CompactionResult[];
let foldB: CompactionResult[];
let plainB: CompactionResult[];
const opts = (now: Date, scratch = "scratch") => ({ passphrase: PASS, windowHours: WINDOW_HOURS, now, scratchDir: path.join(work, scratch) });

async function put(to: FsBackupStore, segs: SegmentName[]): Promise<void> {
  for (const s of segs) await to.put(s.key, Readable.from([log.objects.get(s.key)!]));
}

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-checkpoint-windows-"));
  mkdirSync(path.join(work, "log"));
  log = await buildMemoryLog(path.join(work, "log"), {
    seed: 47,
    pass: PASS,
    generation: GEN,
    minSegments: 60,
    ticks: 4,
    compactAfter: Array.from({ length: 15 }, (_, k) => 4 * k + 2),
    compactRetain: 30,
  });
  store = new FsBackupStore(path.join(work, "store"));
  plain = new FsBackupStore(path.join(work, "plain"));
  const at = (i: number) => log.segments[i].readAt;
  // The second window open (segment 44 just read), the first closed but not folded yet.
  await put(store, log.segments.slice(0, 45));
  await put(plain, log.segments.slice(0, 45));
  early = await checkpointLog(store, opts(at(44)));
  // Then the first window's fold, in both stores.
  foldA = await compactLog(store, opts(at(44)));
  const plainA = await compactLog(plain, opts(at(44), "scratch-plain"));
  expect(foldA.map((r) => r.last)).toEqual(plainA.map((r) => r.last));
  await put(store, log.segments.slice(45));
  await put(plain, log.segments.slice(45));
  later = await checkpointLog(store, opts(at(59)));
  const nextDay = new Date(Date.UTC(2026, 11, 4, 1));
  foldB = await compactLog(store, opts(nextDay));
  plainB = await compactLog(plain, opts(nextDay, "scratch-plain"));
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("a checkpoint written before the previous window's fold", () => {
  it("the first window's fold moved segments read after its cut into the second window, before the checkpoint", () => {
    expect(early.written).toBeTruthy();
    expect(early.written!.first).toBe(log.segments[30].first);
    expect(foldA.length).toBe(1);
    expect(foldA[0].last).toBeLessThan(log.segments[29].last);
  });

  it("the next checkpoint run goes on from it, and begins with the window's new first object", () => {
    const w = later.written!;
    expect(w).toBeTruthy();
    expect(w.first).toBe(foldA[0].last + 1);
    // The segments before the checkpoint, the checkpoint, and those after it: not the window again.
    const e = early.written!;
    const before = log.segments.filter((s) => s.first > foldA[0].last && s.last < e.first).length;
    const after = log.segments.filter((s) => s.first > e.last && s.last <= w.last).length;
    expect(before).toBeGreaterThan(0);
    expect(w.segmentsFolded).toBe(before + 1 + after);
    expect(w.segmentsFolded).toBeLessThan(log.segments.filter((s) => s.first > foldA[0].last && s.last <= w.last).length);
  });

  it("the second window's fold goes through it and ends where the originals' fold ends, with the same rows", async () => {
    const b = foldB.find((r) => r.first === foldA[0].last + 1)!;
    const p = plainB.find((r) => r.first === foldA[0].last + 1)!;
    expect(b).toBeTruthy();
    expect(b.last).toBe(p.last);
    expect(b.rowsKept).toBe(p.rowsKept);
    expect(b.segmentsFolded).toBeLessThan(p.segmentsFolded / 2);
    const [gen] = await listLog(store);
    expect(gen.checkpoints).toEqual([]);
    const [plainGen] = await listLog(plain);
    expect(gen.segments.map((s) => s.key)).toEqual(plainGen.segments.map((s) => s.key));
    const dbPath = log.stage("through");
    await applyLog({ dbPath, segments: gen.segments, target: b.last, open: (k) => store.get(k), passphrase: PASS });
    const want = log.stage("originals");
    await applyLog({ dbPath: want, segments: log.segments, target: b.last, open: log.open, passphrase: PASS });
    expect(dumpKine(dbPath)).toEqual(dumpKine(want));
    expect(dumpKine(dbPath).rows).toEqual(dumpKine(log.copyAt(b.last)).rows);
  });
});
