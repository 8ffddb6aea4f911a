import { describe, it, expect, beforeAll, afterAll } from "vitest";
import Database from "better-sqlite3";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseSegmentKey, segmentKey, type SegmentName } from "../../lib/contracts/continuous";
import { dumpKine, schemaOf } from "../testing/continuous-fixtures";
import { buildMemoryLog, type MemoryLog } from "../testing/memory-log";
import { applyLog, compactedRowsAhead, LogDamagedError, logRowsAhead, stagedWriteFailure } from "./apply";
import { countRowStatements, formatSegment, type KineRow } from "./segment-format";
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
let log: MemoryLog;
let segments: SegmentName[];
let objects: Map<string, Buffer>;
let baseRevision: number;
let lastRevision: number;
/** A point inside the fourth segment. */
let midPoint: number;

const schema = schemaOf;

const stage = (name: string) => log.stage(name);

const apply = (dbPath: string, target: number, segs = segments) => applyLog({ dbPath, segments: segs, target, open: log.open, passphrase: PASS });

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-apply-bulk-"));
  // At least six segments, until the log holds three times the base's rows.
  log = await buildMemoryLog(work, { seed: 11, pass: PASS, generation: GEN, minSegments: 6, logOverBase: 3, ticks: 20 });
  ({ segments, objects, baseRevision, lastRevision } = log);
  midPoint = segments[2].last + 7;
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

  it("counts a compacted object's rows from its text, and as many again for each other compacted object on the way", () => {
    const text = formatSegment({ generation: GEN, first: 1, last: 3, compactRevision: 0, readAt: new Date(0).toISOString() }, [
      {
        id: 1,
        name: "/a",
        created: 1,
        deleted: 0,
        create_revision: 1,
        prev_revision: 0,
        lease: 0,
        value: Buffer.from("x\nINSERT INTO kine(y"),
        old_value: null,
        oldValueRebuildable: false,
      },
      {
        id: 3,
        name: "/b",
        created: 1,
        deleted: 0,
        create_revision: 3,
        prev_revision: 0,
        lease: 0,
        value: Buffer.from([0, 1]),
        old_value: null,
        oldValueRebuildable: false,
      },
    ]);
    expect(countRowStatements(text)).toBe(2);
    const segs = [
      { key: "a", generation: GEN, first: 1, last: 100, compacted: true },
      { key: "b", generation: GEN, first: 101, last: 200, compacted: true },
      { key: "c", generation: GEN, first: 201, last: 250 },
    ] as SegmentName[];
    expect(compactedRowsAhead(segs, 0, 250, text)).toBe(4);
    expect(compactedRowsAhead(segs, 100, 250, text)).toBe(2);
    expect(compactedRowsAhead(segs, 0, 250, null)).toBe(0);
  });

  it("a log of compacted objects only, bringing more rows than the base: a bulk load too, with the live database as the result", async () => {
    const dir = path.join(work, "folded");
    mkdirSync(dir);
    const folded = await buildMemoryLog(dir, { seed: 12, pass: PASS, generation: GEN, minSegments: 4, logOverBase: 2, ticks: 20, compactedFirst: Infinity });
    expect(folded.segments.every((s) => s.compacted)).toBe(true);
    const db = folded.stage("folded");
    const got = await applyLog({ dbPath: db, segments: folded.segments, target: folded.lastRevision, open: folded.open, passphrase: PASS });
    expect(got.bulkLoad).toBe(true);
    expect(dumpKine(db).rows).toEqual(dumpKine(folded.copyAt(folded.lastRevision)).rows);
    expect(schema(db)).toEqual(schema(folded.base));
  });

  it("drops and rebuilds kine's indexes, and gives the live database at the last revision, row for row, schema and all", async () => {
    const db = stage("all");
    const got = await apply(db, lastRevision);
    expect(got.bulkLoad).toBe(true);
    expect(got.revision).toBe(lastRevision);
    expect(got.segmentsApplied).toBe(segments.length);
    expect(dumpKine(db).rows).toEqual(dumpKine(log.copyAt(lastRevision)).rows);
    expect(schema(db)).toEqual(schema(log.copyAt(lastRevision)));
    const check = new Database(db, { readonly: true });
    expect(check.pragma("integrity_check", { simple: true })).toBe("ok");
    check.close();
  });

  it("to a point inside a segment: the live copy at it", async () => {
    const db = stage("mid");
    const got = await apply(db, midPoint);
    expect(got.bulkLoad).toBe(true);
    expect(got.revision).toBe(midPoint);
    const want = dumpKine(log.copyAt(midPoint));
    expect(dumpKine(db).rows).toEqual(want.rows);
    expect(dumpKine(db).sequence).toBe(midPoint);
    expect(schema(db)).toEqual(schema(log.copyAt(midPoint)));
  });

  it("a log shorter than the base keeps the indexes (row by row), with the same result", async () => {
    // The base brought to the second-to-last segment first; then the last segment alone on it.
    const db = stage("short");
    await apply(db, segments[segments.length - 2].last);
    const got = await apply(db, lastRevision);
    expect(got.bulkLoad).toBe(false);
    expect(got.segmentsApplied).toBe(1);
    expect(got.revision).toBe(lastRevision);
    expect(dumpKine(db).rows).toEqual(dumpKine(log.copyAt(lastRevision)).rows);
    expect(schema(db)).toEqual(schema(log.base));
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
  const db = new Database(log.copyAt(lastRevision), { readonly: true });
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

describe("a staged database that cannot grow", () => {
  it("fails as a staging error that clears the log, not as a damaged log", async () => {
    // The apply in a child process limited to files of the base's size plus a quarter of what the log
    // adds (`ulimit -f`: SQLite then meets EFBIG, SQLITE_IOERR_WRITE), the segments as files. Before,
    // the error named a segment as damaged and offered an earlier point, which would fail the same way.
    const dir = path.join(work, "limited");
    mkdirSync(dir);
    for (const seg of segments) writeFileSync(path.join(dir, seg.key), objects.get(seg.key)!);
    const db = stage("limited");
    const baseBytes = statSync(db).size;
    const full = stage("unlimited");
    await apply(full, lastRevision);
    const fullBytes = statSync(full).size;
    expect(fullBytes).toBeGreaterThan(baseBytes + 64 * 1024);
    const limitKiB = Math.ceil((baseBytes + (fullBytes - baseBytes) / 4) / 1024);
    const child = path.join(import.meta.dirname, "../testing/apply-log-child.ts");
    const run = (dbPath: string, limit: string) =>
      JSON.parse(
        execFileSync(
          "bash",
          [
            "-c",
            `ulimit -f ${limit}; exec "$0" --import tsx "$1" "$2"`,
            process.execPath,
            child,
            JSON.stringify({ dbPath, dir, segments, target: lastRevision, passphrase: PASS }),
          ],
          {
            encoding: "utf8",
          },
        )
          .trim()
          .split("\n")
          .pop()!,
      );
    const got = run(db, String(limitKiB));
    expect(got.ok).toBe(false);
    expect(got.name).toBe("StageError");
    expect(got.message).toMatch(
      /^Writing the staged database under .* failed while the log was applied \(disk I\/O error, SQLITE_IOERR_WRITE, \d+ MiB free now\)/,
    );
    expect(got.message).toContain("The log was not found damaged");
    expect(got.message).not.toMatch(/--to-revision|cannot be restored/);
    // The same apply with room: the whole log, as before.
    expect(run(stage("roomy"), "unlimited")).toMatchObject({ ok: true, result: { revision: lastRevision } });
  }, 60_000);

  it("a full disk (SQLITE_FULL) reads as one, with what to do; a refused row stays the log's", () => {
    const db = path.join(work, "staging", "state.db");
    const full = stagedWriteFailure(Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" }), db);
    expect(full?.reason).toBe("no_space");
    expect(full?.message).toMatch(
      /^The disk under .*staging filled up while the log was applied to the staged database \(database or disk is full\)\. The log is not damaged: free space there/,
    );
    expect(
      stagedWriteFailure(Object.assign(new Error("UNIQUE constraint failed: kine.name, kine.prev_revision"), { code: "SQLITE_CONSTRAINT_UNIQUE" }), db),
    ).toBeNull();
    expect(stagedWriteFailure(new Error("no code"), db)).toBeNull();
  });
});
