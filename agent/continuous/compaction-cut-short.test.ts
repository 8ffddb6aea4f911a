import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { Readable } from "node:stream";
import { tmpdir } from "node:os";
import path from "node:path";
import { FsBackupStore } from "../../lib/storage/fs-backup-store";
import type { SegmentName } from "../../lib/contracts/continuous";
import { buildMemoryLog, type MemoryLog } from "../testing/memory-log";
import { dumpKine } from "../testing/continuous-fixtures";
import { compactLog } from "./compaction";
import { applyLog } from "./apply";
import { effectiveSegments, listLog } from "./log-listing";

/**
 * A fold cut short after it deleted some of the window's originals (oldest first) and before the rest:
 * the compacted object now sorts first in its window, so the next run read it alone, found nothing to
 * fold, and left the rest of the originals in the store for good. The next run deletes them.
 */

const PASS = "cut short passphrase";
const GEN = "20261203T120000Z";
let work: string;
let log: MemoryLog;
let store: FsBackupStore;
const opts = () => ({ passphrase: PASS, windowHours: 24, now: new Date(Date.UTC(2026, 11, 4, 1)), scratchDir: path.join(work, "scratch") });

async function put(segs: SegmentName[]): Promise<void> {
  for (const s of segs) await store.put(s.key, Readable.from([log.objects.get(s.key)!]));
}

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-cut-short-"));
  mkdirSync(path.join(work, "log"));
  log = await buildMemoryLog(path.join(work, "log"), {
    seed: 59,
    pass: PASS,
    generation: GEN,
    minSegments: 24,
    ticks: 4,
    compactAfter: Array.from({ length: 6 }, (_, k) => 4 * k + 2),
    compactRetain: 30,
  });
  store = new FsBackupStore(path.join(work, "store"));
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("a fold cut short after deleting some originals", () => {
  it("the next run deletes the originals left behind, and the log restores as before", async () => {
    await put(log.segments);
    const [done] = await compactLog(store, opts());
    expect(done).toBeTruthy();
    const folded = log.segments.filter((s) => s.last <= done.last);
    expect(folded.length).toBeGreaterThan(4);
    // The crash: only the first three originals were deleted.
    await put(folded.slice(3));
    const again = await compactLog(store, opts());
    const [gen] = await listLog(store);
    expect(gen.segments.filter((s) => !s.compacted && s.last <= done.last).map((s) => s.key)).toEqual([]);
    expect(again.every((r) => r.failed.length === 0)).toBe(true);
    const p = log.segments[log.segments.length - 1].last;
    const dbPath = log.stage("after");
    await applyLog({ dbPath, segments: effectiveSegments(gen.segments), target: p, open: (k) => store.get(k), passphrase: PASS });
    expect(dumpKine(dbPath).rows).toEqual(dumpKine(log.copyAt(p)).rows);
  }, 60_000);
});
