import { describe, it, expect, beforeAll, afterAll } from "vitest";
import Database from "better-sqlite3";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { Readable } from "node:stream";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseSegmentKey, segmentKey, type SegmentName } from "../../lib/contracts/continuous";
import { openKineDb } from "../kine/schema";
import { KineSimulator } from "../kine/simulator";
import { dumpKine } from "../testing/continuous-fixtures";
import { applyLog, LogDamagedError, logRowsAhead } from "./apply";
import { LogReader } from "./reader";
import { formatSegment, type KineRow } from "./segment-format";
import { encodeSegment } from "./segment-codec";

/**
 * A log that brings more rows than its base holds is applied as a bulk load (apply-session.ts):
 * kine's indexes dropped, the segments applied on a SQLite worker while this thread decodes the next
 * ones, the indexes built again from their own CREATE statements. Either way the result must be the
 * live database at the point, row for row, with the same schema; a segment that breaks kine's UNIQUE
 * index fails the apply in both.
 */

const PASS = "apply bulk passphrase";
const GEN = "20261203T120000Z";

let work: string;
const objects = new Map<string, Buffer>();
const segments: SegmentName[] = [];
/** Live copies at revisions the tests restore to. */
const copies = new Map<number, string>();
let baseRevision: number;
let lastRevision: number;
let midPoint: number;

function schema(dbPath: string): string[] {
  const db = new Database(dbPath, { readonly: true });
  try {
    return (db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").raw().all() as unknown[][]).map((r) => JSON.stringify(r));
  } finally {
    db.close();
  }
}

function stage(name: string): string {
  const db = path.join(work, `${name}.db`);
  copyFileSync(path.join(work, "base.db"), db);
  return db;
}

const apply = (dbPath: string, target: number, segs = segments) =>
  applyLog({ dbPath, segments: segs, target, open: async (k) => Readable.from([objects.get(k)!]), passphrase: PASS });

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-apply-bulk-"));
  const live = path.join(work, "live.db");
  const db = openKineDb(live);
  const sim = new KineSimulator(db, { seed: 11 });
  sim.seed();
  sim.compact();
  db.exec(`VACUUM INTO '${path.join(work, "base.db")}'`);
  baseRevision = sim.currentRevision();
  const baseRows = db.prepare("SELECT count(*) FROM kine").pluck().get() as number;
  // Segments as the shipper writes them (its reader: old_value left out where kine's INSERT made it),
  // at least six, until the log holds three times the base's rows.
  const reader = new LogReader(live);
  let after = baseRevision;
  for (let s = 0; s < 6 || after - baseRevision < 3 * baseRows; s++) {
    for (let i = 0; i < 20; i++) sim.tick();
    const read = await reader.read(after);
    const rows: KineRow[] = read.rows;
    const first = rows[0].id;
    const last = rows[rows.length - 1].id;
    const readAt = new Date(Date.UTC(2026, 11, 3, 12, 0, 0) + s * 10_000);
    const key = segmentKey(GEN, first, last, readAt);
    objects.set(key, await encodeSegment(formatSegment({ generation: GEN, first, last, compactRevision: 0, readAt: readAt.toISOString() }, rows), PASS));
    segments.push(parseSegmentKey(key)!);
    after = last;
    if (s === 2) {
      // A point inside the fourth segment, copied live as it was.
      midPoint = last + 7;
    }
    if (s === 3) {
      const copy = path.join(work, `live-${midPoint}.db`);
      db.exec(`VACUUM INTO '${copy}'`);
      const c = new Database(copy);
      c.prepare("DELETE FROM kine WHERE id > ?").run(midPoint);
      c.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = 'kine'").run(midPoint);
      c.close();
      copies.set(midPoint, copy);
    }
  }
  reader.close();
  lastRevision = after;
  db.close();
  copies.set(lastRevision, live);
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("applying a log longer than its base (bulk load)", () => {
  it("counts the rows ahead from the base's revision, and leaves compacted objects out", () => {
    const segs = [
      { key: "a", generation: GEN, first: 1, last: 100, compacted: true },
      { key: "b", generation: GEN, first: 101, last: 150 },
      { key: "c", generation: GEN, first: 151, last: 200 },
    ] as SegmentName[];
    expect(logRowsAhead(segs, 120, 180)).toBe(30 + 30);
    expect(logRowsAhead(segs, 200, 300)).toBe(0);
  });

  it("drops and rebuilds kine's indexes, and gives the live database at the last revision, row for row, schema and all", async () => {
    const db = stage("all");
    const got = await apply(db, lastRevision);
    expect(got.bulkLoad).toBe(true);
    expect(got.revision).toBe(lastRevision);
    expect(got.segmentsApplied).toBe(segments.length);
    expect(dumpKine(db).rows).toEqual(dumpKine(copies.get(lastRevision)!).rows);
    expect(schema(db)).toEqual(schema(copies.get(lastRevision)!));
    const check = new Database(db, { readonly: true });
    expect(check.pragma("integrity_check", { simple: true })).toBe("ok");
    check.close();
  });

  it("to a point inside a segment: the live copy at it", async () => {
    const db = stage("mid");
    const got = await apply(db, midPoint);
    expect(got.bulkLoad).toBe(true);
    expect(got.revision).toBe(midPoint);
    const want = dumpKine(copies.get(midPoint)!);
    expect(dumpKine(db).rows).toEqual(want.rows);
    expect(dumpKine(db).sequence).toBe(midPoint);
    expect(schema(db)).toEqual(schema(copies.get(midPoint)!));
  });

  it("a log shorter than the base keeps the indexes (row by row), with the same result", async () => {
    // The base brought to the second-to-last segment first; then the last segment alone on it.
    const db = stage("short");
    await apply(db, segments[segments.length - 2].last);
    const got = await apply(db, lastRevision);
    expect(got.bulkLoad).toBe(false);
    expect(got.segmentsApplied).toBe(1);
    expect(got.revision).toBe(lastRevision);
    expect(dumpKine(db).rows).toEqual(dumpKine(copies.get(lastRevision)!).rows);
    expect(schema(db)).toEqual(schema(path.join(work, "base.db")));
  });

  it("a row that breaks kine's UNIQUE (name, prev_revision) index fails the apply, bulk or not, naming the revisions lost and the point before them", async () => {
    // The second segment again under a later range: its rows repeat (name, prev_revision) pairs.
    const dup = segments[1];
    const text = formatSegment(
      { generation: GEN, first: lastRevision + 1, last: lastRevision + 1, compactRevision: 0, readAt: new Date(Date.UTC(2026, 11, 4)).toISOString() },
      [{ ...(await firstRow(dup)), id: lastRevision + 1 }],
    );
    const key = segmentKey(GEN, lastRevision + 1, lastRevision + 1, new Date(Date.UTC(2026, 11, 4)));
    objects.set(key, await encodeSegment(text, PASS));
    const bad = [...segments, parseSegmentKey(key)!];
    // Bulk: the UNIQUE index is built after the last segment, so the whole log after the base is in doubt.
    const bulk = await apply(stage("dup-bulk"), lastRevision + 1, bad).then(
      () => null,
      (e: unknown) => e,
    );
    expect(bulk).toBeInstanceOf(LogDamagedError);
    expect((bulk as LogDamagedError).message).toMatch(/did not apply to the base \(UNIQUE constraint failed: kine\.name, kine\.prev_revision\)/);
    expect((bulk as LogDamagedError).details).toMatchObject({ lostFrom: baseRevision + 1, newestPoint: { revision: baseRevision } });
    expect((bulk as LogDamagedError).message).toContain(`--to-revision ${baseRevision}`);
    // Row by row: a base already holding everything up to the last revision, then the one bad segment.
    const upToLast = stage("dup-rows");
    await apply(upToLast, lastRevision);
    const rows = await apply(upToLast, lastRevision + 1, bad).then(
      () => null,
      (e: unknown) => e,
    );
    expect(rows).toBeInstanceOf(LogDamagedError);
    expect((rows as LogDamagedError).message).toMatch(/UNIQUE constraint failed: kine\.name, kine\.prev_revision/);
    expect((rows as LogDamagedError).details).toMatchObject({ lostFrom: lastRevision + 1, segment: key, newestPoint: { revision: lastRevision } });
  });
});

/** The first row of a segment, read back from the live database. */
async function firstRow(seg: SegmentName): Promise<KineRow> {
  const db = new Database(copies.get(lastRevision)!, { readonly: true });
  try {
    const row = db.prepare("SELECT * FROM kine WHERE id >= ? AND name != 'compact_rev_key' AND prev_revision != 0 ORDER BY id LIMIT 1").get(seg.first) as Omit<
      KineRow,
      "oldValueRebuildable"
    >;
    return { ...row, oldValueRebuildable: false };
  } finally {
    db.close();
  }
}
