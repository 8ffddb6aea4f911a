import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { Readable } from "node:stream";
import { tmpdir } from "node:os";
import path from "node:path";
import { FsBackupStore } from "../../lib/storage/fs-backup-store";
import type { SegmentName } from "../../lib/contracts/continuous";
import { buildMemoryLog, type MemoryLog } from "../testing/memory-log";
import { checkpointLog } from "./compaction";
import { listLog } from "./log-listing";

/**
 * A checkpoint run that fails for a reason other than its last checkpoint (a segment after it damaged,
 * the store failing to give one) keeps that checkpoint: it is only dropped when the window folds from
 * its segments without it, so the next run, once the segment reads, goes on from it instead of reading
 * the whole window again.
 */

const PASS = "checkpoint errors passphrase";
const GEN = "20261203T120000Z";
let work: string;
let log: MemoryLog;
let store: FsBackupStore;
const opts = (now: Date) => ({ passphrase: PASS, windowHours: 24, now, scratchDir: path.join(work, "scratch") });

async function put(segs: SegmentName[], bytes = (s: SegmentName) => log.objects.get(s.key)!): Promise<void> {
  for (const s of segs) await store.put(s.key, Readable.from([bytes(s)]));
}

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-checkpoint-errors-"));
  mkdirSync(path.join(work, "log"));
  log = await buildMemoryLog(path.join(work, "log"), {
    seed: 53,
    pass: PASS,
    generation: GEN,
    minSegments: 30,
    ticks: 4,
    compactAfter: Array.from({ length: 7 }, (_, k) => 4 * k + 2),
    compactRetain: 30,
  });
  store = new FsBackupStore(path.join(work, "store"));
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("a checkpoint run that fails on a segment after the last checkpoint", () => {
  it("keeps the checkpoint, and the next run goes on from it", async () => {
    await put(log.segments.slice(0, 15));
    const first = await checkpointLog(store, opts(log.segments[14].readAt));
    expect(first.written).toBeTruthy();
    // A segment after it damaged in the store (a flipped byte of its ciphertext).
    const bad = log.segments[22];
    await put(log.segments.slice(15), (s) => {
      const b = Buffer.from(log.objects.get(s.key)!);
      if (s.key === bad.key) b[Math.floor(b.length / 2)] ^= 0xff;
      return b;
    });
    await expect(checkpointLog(store, opts(log.segments[29].readAt))).rejects.toThrow();
    const [gen] = await listLog(store);
    expect(gen.checkpoints.map((c) => c.key)).toEqual([first.written!.key]);
    // The segment read again (a transient failure, or put right): the run reads the checkpoint and the segments after it.
    await put([bad]);
    const next = await checkpointLog(store, opts(log.segments[29].readAt));
    expect(next.written).toBeTruthy();
    expect(next.written!.segmentsFolded).toBeLessThanOrEqual(1 + log.segments.filter((s) => s.first > first.written!.last).length);
  }, 60_000);
});
