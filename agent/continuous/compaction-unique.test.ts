import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { Readable } from "node:stream";
import { tmpdir } from "node:os";
import path from "node:path";
import { FsBackupStore } from "../../lib/storage/fs-backup-store";
import { listAll } from "../../lib/storage/backup-store";
import { parseSegmentKey, segmentKey, type SegmentName } from "../../lib/contracts/continuous";
import { compactWindow } from "./compaction";
import { formatSegment, type KineRow } from "./segment-format";
import { encodeSegment } from "./segment-codec";

/**
 * A fold's scratch database keeps only the one of kine's indexes that is a rule, UNIQUE (name,
 * prev_revision) (compaction.ts, dropLookupIndexes): a window whose segments break it is not folded,
 * and its originals stay; a window that keeps it is folded into one object.
 */

const PASS = "compaction unique passphrase";
const GEN = "20261203T120000Z";
let work: string;
let store: FsBackupStore;

const row = (id: number, name: string, prev: number): KineRow => ({
  id,
  name,
  created: prev === 0 ? 1 : 0,
  deleted: 0,
  create_revision: id,
  prev_revision: prev,
  lease: 0,
  value: Buffer.from(`value of ${name} at ${id}`),
  old_value: null,
  oldValueRebuildable: false,
});

/** Writes segments of rows (one list per segment, read 10 s apart) under `prefix`; their names, in order. */
async function writeSegments(prefix: string, segments: KineRow[][]): Promise<SegmentName[]> {
  const out: SegmentName[] = [];
  for (const [i, rows] of segments.entries()) {
    const readAt = new Date(Date.UTC(2026, 11, 3, 12, 0, 10 * i));
    const first = rows[0].id;
    const last = rows[rows.length - 1].id;
    const key = `${prefix}/${segmentKey(GEN, first, last, readAt)}`;
    const text = formatSegment({ generation: GEN, first, last, compactRevision: 0, readAt: readAt.toISOString() }, rows);
    await store.put(key, Readable.from([await encodeSegment(text, PASS)]));
    out.push(parseSegmentKey(key)!);
  }
  return out;
}

const opts = () => ({ passphrase: PASS, windowHours: 1, now: new Date(Date.UTC(2026, 11, 3, 14)), scratchDir: path.join(work, "scratch") });

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-compaction-unique-"));
  store = new FsBackupStore(path.join(work, "store"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("a fold's scratch database", () => {
  it("folds a window whose rows keep kine's UNIQUE (name, prev_revision)", async () => {
    const segs = await writeSegments("ok", [
      [row(1, "/registry/a", 0), row(2, "/registry/b", 0)],
      [row(3, "/registry/a", 1), row(4, "/registry/b", 2)],
    ]);
    const r = await compactWindow(store, segs, opts());
    expect(r?.segmentsFolded).toBe(2);
    const keys = [];
    for await (const o of listAll(store, { prefix: "ok/" })) keys.push(o.key);
    expect(keys).toEqual([r!.key]);
  });

  it("refuses a window whose rows break it, and deletes none of its segments", async () => {
    const segs = await writeSegments("dup", [
      [row(1, "/registry/a", 0), row(2, "/registry/b", 0)],
      // Revision 4 repeats /registry/a's (name, prev_revision) of revision 3.
      [row(3, "/registry/a", 1), row(4, "/registry/a", 1)],
    ]);
    await expect(compactWindow(store, segs, opts())).rejects.toThrow(/UNIQUE constraint failed: kine\.name, kine\.prev_revision/);
    const keys = [];
    for await (const o of listAll(store, { prefix: "dup/" })) keys.push(o.key);
    expect(keys.sort()).toEqual(segs.map((s) => s.key).sort());
  });
});

describe("a window whose compacted text would be more than a restore reads", () => {
  it("is not folded: nothing is uploaded, and its segments stay", async () => {
    const big = (id: number, name: string, prev: number): KineRow => ({ ...row(id, name, prev), value: Buffer.alloc(40_000, 0xff) });
    const segs = await writeSegments("big", [
      [big(1, "/registry/a", 0), big(2, "/registry/b", 0)],
      [big(3, "/registry/a", 1), big(4, "/registry/b", 2)],
    ]);
    // 40 kB of non-UTF-8 bytes a row is written as 80 kB of hex: four rows pass a 200 kB limit.
    await expect(compactWindow(store, segs, { ...opts(), maxText: 200_000 })).rejects.toThrow(/more than a restore reads .*: its 2 segments stay as they are/);
    const keys = [];
    for await (const o of listAll(store, { prefix: "big/" })) keys.push(o.key);
    expect(keys.sort()).toEqual(segs.map((s) => s.key).sort());
    // Under the limit the same window folds.
    const r = await compactWindow(store, segs, { ...opts(), maxText: 2_000_000 });
    expect(r?.segmentsFolded).toBe(2);
  });
});
