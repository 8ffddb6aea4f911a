import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { Readable } from "node:stream";
import { tmpdir } from "node:os";
import path from "node:path";
import { FsBackupStore } from "../../lib/storage/fs-backup-store";
import { listAll } from "../../lib/storage/backup-store";
import { parseSegmentKey, type SegmentName } from "../../lib/contracts/continuous";
import { openKineDb, writeAsScratch } from "../kine/schema";
import { buildMemoryLog, type MemoryLog } from "../testing/memory-log";
import { dumpKine } from "../testing/continuous-fixtures";
import { compactWindow, type CompactionResult } from "./compaction";
import { applyLog } from "./apply";
import { decodeSegment } from "./segment-codec";

/**
 * A fold's scratch database drops what kine's own compaction had deleted by the time each object was
 * read (compaction.ts, `forget`), instead of holding every row of the window until the end: ~790 MB
 * for 6 simulated hours before, written on the agent's disk (an SD card) four times a day. The window
 * here is kine compacting every few segments to a few dozen revisions behind, so most of its rows go
 * early; the fold must still be exactly what the original segments give at its end.
 */

const PASS = "compaction scratch passphrase";
const GEN = "20261203T120000Z";
let work: string;
let log: MemoryLog;
let store: FsBackupStore;
let result: CompactionResult;

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-compaction-scratch-"));
  mkdirSync(path.join(work, "log"));
  log = await buildMemoryLog(path.join(work, "log"), {
    seed: 31,
    pass: PASS,
    generation: GEN,
    minSegments: 120,
    ticks: 4,
    compactAfter: Array.from({ length: 30 }, (_, k) => 4 * k + 3),
    compactRetain: 30,
  });
  store = new FsBackupStore(path.join(work, "store"));
  for (const s of log.segments) await store.put(s.key, Readable.from([log.objects.get(s.key)!]));
  const r = await compactWindow(store, log.segments, { passphrase: PASS, windowHours: 1, now: new Date(), scratchDir: path.join(work, "scratch") });
  expect(r).not.toBeNull();
  result = r!;
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The bytes of a scratch database that held every row of the window up to `last` (kine's UNIQUE index, no witnesses). */
async function everyRowBytes(last: number): Promise<number> {
  const db = openKineDb(path.join(work, "every-row.db"));
  try {
    writeAsScratch(db);
    for (const name of db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'kine' AND sql NOT LIKE 'CREATE UNIQUE INDEX%'")
      .pluck()
      .all() as string[])
      db.exec(`DROP INDEX "${name}"`);
    for (const s of log.segments.filter((x) => x.last <= last)) db.exec(await decodeSegment(Readable.from([log.objects.get(s.key)!]), PASS));
    return (db.pragma("page_count", { simple: true }) as number) * (db.pragma("page_size", { simple: true }) as number);
  } finally {
    db.close();
  }
}

describe("a fold's scratch database", () => {
  it("leaves out, as the window is read, the rows kine's compaction had already deleted: it stays far smaller than the window", async () => {
    expect(result.rowsForgotten).toBeGreaterThan(result.rowsIn / 2);
    const every = await everyRowBytes(result.last);
    expect(result.scratchBytes).toBeGreaterThan(0);
    expect(result.scratchBytes).toBeLessThan(every / 2);
  });

  it("still folds the window into what the original segments give at its end, row for row", async () => {
    const fromOriginals = log.stage("originals");
    await applyLog({ dbPath: fromOriginals, segments: log.segments, target: result.last, open: log.open, passphrase: PASS });
    const stored: SegmentName[] = [];
    for await (const o of listAll(store)) {
      const s = parseSegmentKey(o.key);
      if (s) stored.push(s);
    }
    expect(stored.filter((s) => s.compacted).map((s) => s.key)).toEqual([result.key]);
    const fromFold = log.stage("folded");
    await applyLog({ dbPath: fromFold, segments: stored, target: result.last, open: (k) => store.get(k), passphrase: PASS });
    expect(dumpKine(fromFold)).toEqual(dumpKine(fromOriginals));
    // And the live database at that point (kine's own compaction as it was then).
    expect(dumpKine(fromFold).rows).toEqual(dumpKine(log.copyAt(result.last)).rows);
  });
});
