import { describe, it, expect, beforeAll, afterAll } from "vitest";
import Database from "better-sqlite3";
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { parseSegmentKey, segmentKey, type SegmentName } from "../../lib/contracts/continuous";
import { dumpKine, schemaOf } from "../testing/continuous-fixtures";
import { buildMemoryLog, type MemoryLog } from "../testing/memory-log";
import { applyLog, prepareLog, type ApplyResult } from "./apply";
import { aheadRun } from "./apply-ahead";
import { stagingRoom } from "./stage-point";
import { forgetDerivedKeys, s2kDerivations } from "../archive/openpgp-native";
import { encodeSegment } from "./segment-codec";
import { formatSegment, type KineRow } from "./segment-format";
import { KINE_COMPACT_SQL, KINE_SET_COMPACT_REV_SQL } from "../kine/schema";

/**
 * A point restore applies the log's trailing run of objects to a scratch database while the
 * base is staged, then copies it in (apply-ahead.ts). Whatever the run, the point and the damage,
 * the staged database and what the apply reports must be exactly those of applying every segment to
 * the base in turn (applyLog), which the other log tests compare with the live database.
 */

const PASS = "apply ahead passphrase";
const GEN = "20261203T120000Z";

let work: string;
/** More log than base (kine's indexes dropped and rebuilt), a compacted object first, kine compacting in the middle. */
let bulk: MemoryLog;
/** Less log than base: the indexes stay, the copy goes through them. */
let small: MemoryLog;

const schema = schemaOf;

let n = 0;
const direct = (log: MemoryLog, target: number, segments = log.segments) => {
  const dbPath = log.stage(`direct-${n++}`);
  return { dbPath, done: applyLog({ dbPath, segments, target, open: log.open, passphrase: PASS }) };
};

/** As stagePoint runs it, with the base "staged" only once the run ahead has taken all it will. */
const ahead = (log: MemoryLog, target: number, segments = log.segments, maxBytes?: number) => {
  const dbPath = log.stage(`ahead-${n++}`);
  const prepared = prepareLog({ segments, target, open: log.open, passphrase: PASS, baseRevision: log.baseRevision, startAfter: Promise.resolve() });
  return { dbPath, done: prepared.aheadIdle().then(() => prepared.applyTo(dbPath, maxBytes)) };
};

const outcome = (p: Promise<ApplyResult>) =>
  p.then(
    (r) => ({ ok: true as const, r }),
    (e: unknown) => ({ ok: false as const, message: (e as Error).message, details: (e as { details?: unknown }).details, code: (e as { code?: string }).code }),
  );

/** Both ways to `target`: the same database (rows, counter, compact revision, schema) and the same report. */
async function expectSame(log: MemoryLog, target: number, segments = log.segments): Promise<{ ahead: ApplyResult; direct: ApplyResult }> {
  const a = ahead(log, target, segments);
  const d = direct(log, target, segments);
  const [ra, rd] = await Promise.all([a.done, d.done]);
  expect(dumpKine(a.dbPath)).toEqual(dumpKine(d.dbPath));
  expect(schema(a.dbPath)).toEqual(schema(d.dbPath));
  // bulkLoad is how, not what: the run counts the rows it holds, the walk estimates them from the objects' names.
  const { appliedAhead: _a, compactedAhead: _c, bulkLoad: _b, ...reportA } = ra;
  const { appliedAhead: none, compactedAhead: noneCompacted, bulkLoad: _d, ...reportD } = rd;
  expect(reportA).toEqual(reportD);
  expect(none).toBe(0);
  expect(noneCompacted).toBe(0);
  return { ahead: ra, direct: rd };
}

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-apply-ahead-"));
  mkdirSync(path.join(work, "bulk"));
  mkdirSync(path.join(work, "small"));
  bulk = await buildMemoryLog(path.join(work, "bulk"), {
    seed: 21,
    pass: PASS,
    generation: GEN,
    minSegments: 9,
    logOverBase: 3,
    ticks: 20,
    compactAfter: [4],
    // kine's compaction reaches into the run (the rows of the compacted object and the segments after it it deletes).
    compactRetain: 40,
    compactedFirst: 2,
  });
  small = await buildMemoryLog(path.join(work, "small"), { seed: 22, pass: PASS, generation: GEN, minSegments: 6, ticks: 1 });
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the run applied ahead", () => {
  const seg = (first: number, last: number, compacted = false) =>
    ({ key: `${first}-${last}`, generation: GEN, first, last, readAt: new Date(0), ...(compacted ? { compacted: true } : {}) }) as SegmentName;

  it("is the trailing run of objects, each beginning right after the one before, the first right after the base or the object before it", () => {
    expect(aheadRun([seg(11, 20), seg(21, 30), seg(31, 40)], 10, 40)).toEqual({ start: 0, end: 3, after: 10 });
    // Compacted objects belong to it (their tails run after the copy).
    expect(aheadRun([seg(11, 20, true), seg(21, 30), seg(31, 40)], 10, 35)).toEqual({ start: 0, end: 3, after: 10 });
    expect(aheadRun([seg(11, 20, true)], 10, 20)).toEqual({ start: 0, end: 1, after: 10 });
    // Segments past the target are not part of it.
    expect(aheadRun([seg(11, 20), seg(21, 30), seg(31, 40), seg(41, 50)], 10, 30)).toEqual({ start: 0, end: 2, after: 10 });
    // A gap: the run starts after it (the walk meets the gap itself).
    expect(aheadRun([seg(11, 20), seg(25, 30), seg(31, 40), seg(41, 50)], 10, 50)).toEqual({ start: 2, end: 4, after: 30 });
    // An object overlapping the base is left to the walk.
    expect(aheadRun([seg(5, 20), seg(21, 30), seg(31, 40)], 10, 40)).toEqual({ start: 1, end: 3, after: 20 });
    // Nothing to apply: none.
    expect(aheadRun([], 10, 30)).toBeNull();
    expect(aheadRun([seg(5, 20)], 10, 30)).toBeNull();
  });

  it("to the end of a log with a compacted object first and kine compacting inside the run: the database of applying each segment in turn, and the live one", async () => {
    const { ahead: got } = await expectSame(bulk, bulk.lastRevision);
    expect(got.bulkLoad).toBe(true);
    expect(got.appliedAhead).toBe(bulk.segments.length);
    expect(got.segmentsApplied).toBe(bulk.segments.length);
    // kine compacted inside the run: rows it deleted went into the scratch without their values.
    expect(got.compactedAhead).toBeGreaterThan(0);
    const a = ahead(bulk, bulk.lastRevision);
    await a.done;
    expect(dumpKine(a.dbPath).rows).toEqual(dumpKine(bulk.copyAt(bulk.lastRevision)).rows);
    const check = new Database(a.dbPath, { readonly: true });
    expect(check.pragma("integrity_check", { simple: true })).toBe("ok");
    check.close();
  });

  it("to points inside the run's segments (the first, one after kine compacted, the last)", async () => {
    const run = bulk.segments.filter((s) => !s.compacted);
    for (const target of [run[1].first + 1, run[4].first + 2, run[run.length - 1].last - 3]) {
      const { ahead: got } = await expectSame(bulk, target);
      expect(got.revision).toBe(target);
      expect(got.appliedAhead).toBeGreaterThan(0);
    }
  });

  it("derives the log's passphrase key on the run's worker, not on the thread staging the base", async () => {
    forgetDerivedKeys();
    const before = s2kDerivations();
    const a = ahead(bulk, bulk.lastRevision);
    expect((await a.done).appliedAhead).toBe(bulk.segments.length);
    expect(s2kDerivations()).toBe(before);
    // Without a run ahead this thread derives it (once: the log's segments share a salt).
    forgetDerivedKeys();
    await direct(bulk, bulk.lastRevision).done;
    expect(s2kDerivations()).toBe(before + 1);
  });

  it("on a base larger than the log (kine's indexes kept while the rows are copied in)", async () => {
    const { ahead: got } = await expectSame(small, small.lastRevision);
    expect(got.bulkLoad).toBe(false);
    expect(got.appliedAhead).toBe(small.segments.length);
    expect(dumpKine(ahead(small, small.lastRevision).dbPath).rows.length).toBeGreaterThan(0);
  });

  it("a damaged or missing segment in the run: the same error, naming the same lost revisions and newest point, and the same database", async () => {
    const run = bulk.segments.filter((s) => !s.compacted);
    const victim = run[4];
    const intact = bulk.objects.get(victim.key)!;
    bulk.objects.set(victim.key, intact.subarray(0, intact.length - 40));
    try {
      const a = ahead(bulk, bulk.lastRevision);
      const d = direct(bulk, bulk.lastRevision);
      const [ea, ed] = await Promise.all([outcome(a.done), outcome(d.done)]);
      expect(ea.ok).toBe(false);
      expect(ea).toEqual(ed);
      expect(dumpKine(a.dbPath)).toEqual(dumpKine(d.dbPath));
    } finally {
      bulk.objects.set(victim.key, intact);
    }
    const gap = bulk.segments.filter((s) => s !== victim);
    const a = ahead(bulk, bulk.lastRevision, gap);
    const d = direct(bulk, bulk.lastRevision, gap);
    const [ea, ed] = await Promise.all([outcome(a.done), outcome(d.done)]);
    expect(ea).toMatchObject({ ok: false, code: "log_damaged", details: { lostFrom: victim.first } });
    expect(ea).toEqual(ed);
    expect(dumpKine(a.dbPath)).toEqual(dumpKine(d.dbPath));
  });

  it("a segment SQLite refuses (its text will not run): the scratch stops before it, and the walk meets it alone and names it", async () => {
    const run = small.segments;
    const victim = run[2];
    const text = formatSegment(
      { generation: GEN, first: victim.first, last: victim.last, compactRevision: 0, readAt: victim.readAt.toISOString() },
      [],
    ).replace("BEGIN;\n", "BEGIN;\nINSERT INTO no_such_table VALUES (1);\n");
    const intact = small.objects.get(victim.key)!;
    small.objects.set(victim.key, await encodeSegment(text, PASS));
    try {
      const a = ahead(small, small.lastRevision);
      const d = direct(small, small.lastRevision);
      const [ea, ed] = await Promise.all([outcome(a.done), outcome(d.done)]);
      expect(ea).toMatchObject({
        ok: false,
        code: "log_damaged",
        details: { lostFrom: victim.first, segment: victim.key, newestPoint: { revision: run[1].last } },
      });
      expect((ea as { message: string }).message).toMatch(/no such table: no_such_table/);
      // Without the run the walk may have sent it to SQLite with the segments after it (one batch): a wider range, never a later point.
      expect(ed).toMatchObject({ ok: false, code: "log_damaged" });
      expect((ed as { details: { lostFrom: number } }).details.lostFrom).toBeLessThanOrEqual(victim.first);
    } finally {
      small.objects.set(victim.key, intact);
    }
  });

  it("a row of the run that breaks kine's UNIQUE index against the base fails the copy: the run's revisions are lost, the newest point is where it began", async () => {
    // A row of the base again (the same name and prev_revision) under the run's next revision.
    const db = new Database(small.base, { readonly: true });
    const row = db.prepare("SELECT * FROM kine WHERE name != 'compact_rev_key' ORDER BY id DESC LIMIT 1").get() as Omit<KineRow, "oldValueRebuildable">;
    db.close();
    const id = small.lastRevision + 1;
    const at = new Date(Date.UTC(2026, 11, 4));
    const key = segmentKey(GEN, id, id, at);
    small.objects.set(
      key,
      await encodeSegment(
        formatSegment({ generation: GEN, first: id, last: id, compactRevision: 0, readAt: at.toISOString() }, [{ ...row, id, oldValueRebuildable: false }]),
        PASS,
      ),
    );
    const bad = [...small.segments, parseSegmentKey(key)!];
    const a = ahead(small, id, bad);
    const got = await outcome(a.done);
    expect(got).toMatchObject({ ok: false, code: "log_damaged", details: { lostFrom: small.baseRevision + 1, newestPoint: { revision: small.baseRevision } } });
    expect((got as { message: string }).message).toMatch(/UNIQUE constraint failed: kine\.name, kine\.prev_revision/);
  });

  /**
   * A log written by hand after `small`'s base: each segment's rows (after its base row `b`, under one
   * name) and compact revision, so the rows kine's compaction at the point deletes are chosen exactly.
   */
  const handLog = async (
    segmentsRows: {
      rows: (base: { id: number; name: string }) => Omit<KineRow, "value" | "old_value" | "oldValueRebuildable">[];
      compact: (first: number) => number;
    }[],
  ): Promise<MemoryLog> => {
    const db = new Database(small.base, { readonly: true });
    const base = db.prepare("SELECT id, name FROM kine WHERE name != 'compact_rev_key' AND deleted = 0 ORDER BY id DESC LIMIT 1").get() as {
      id: number;
      name: string;
    };
    db.close();
    const objects = new Map(small.objects);
    const segments: SegmentName[] = [];
    let next = small.baseRevision + 1;
    for (const [k, spec] of segmentsRows.entries()) {
      const rows = spec
        .rows(base)
        .map((r) => ({ ...r, id: next++, value: Buffer.from(`value of ${r.name} at ${next - 1}`), old_value: null, oldValueRebuildable: true }));
      const at = new Date(Date.UTC(2026, 11, 5, 0, 0, k));
      const first = rows[0].id;
      const last = rows[rows.length - 1].id;
      const key = segmentKey(GEN, first, last, at);
      objects.set(
        key,
        await encodeSegment(formatSegment({ generation: GEN, first, last, compactRevision: spec.compact(first), readAt: at.toISOString() }, rows), PASS),
      );
      segments.push(parseSegmentKey(key)!);
    }
    return { ...small, objects, segments, lastRevision: next - 1, open: async (key) => Readable.from([objects.get(key)!]) };
  };
  const row = (name: string, prev: number, deleted = 0) => ({ id: 0, name, created: 0, deleted, create_revision: prev, prev_revision: prev, lease: 0 });

  it("rows the point's compaction deletes, the newest a tombstone: the same database, and the counter at the log's newest row", async () => {
    // r1 updates the base's row, r2 updates r1, r3 deletes the key; kine has compacted to r3: r1-r3 all go.
    const log = await handLog([
      { rows: (b) => [row(b.name, b.id)], compact: () => 0 },
      { rows: (b) => [row(b.name, b.id + 1), row(b.name, b.id + 2, 1)], compact: (first) => first + 1 },
    ]);
    const { ahead: got } = await expectSame(log, log.lastRevision);
    expect(got.compactedAhead).toBe(3);
    const a = ahead(log, log.lastRevision);
    await a.done;
    const after = dumpKine(a.dbPath);
    expect(after.sequence).toBe(log.lastRevision);
    expect(after.compactRevision).toBe(log.lastRevision);
    expect(after.rows.length).toBe(dumpKine(log.base).rows.length - 1);
  });

  it("a key deleted at or below the point's compact revision and written again after it: the new row's old_value is the tombstone's value", async () => {
    // r1 and r2 update the base's row, r3 deletes the key (kine compacts to it: r1-r3 go), r4 writes it again, naming r3.
    const log = await handLog([
      { rows: (b) => [row(b.name, b.id), row(b.name, b.id + 1)], compact: () => 0 },
      { rows: (b) => [row(b.name, b.id + 2, 1)], compact: () => 0 },
      { rows: (b) => [row(b.name, b.id + 3)], compact: (first) => first - 1 },
      { rows: (b) => [row(`${b.name}-other`, 0)], compact: (first) => first - 2 },
    ]);
    const { ahead: got } = await expectSame(log, log.lastRevision);
    expect(got.compactedAhead).toBe(3);
    const a = ahead(log, log.lastRevision);
    await a.done;
    const db = new Database(a.dbPath, { readonly: true });
    const again = db.prepare("SELECT value, old_value FROM kine WHERE id = ?").get(log.lastRevision - 1) as { value: Buffer; old_value: Buffer };
    db.close();
    expect(again.old_value?.toString()).toMatch(/^value of .* at \d+$/);
  });

  it("a key whose name and value hold quotes and non-ASCII text, its first versions deleted by the compaction: the staying version's old_value is the ghost's text, quotes and all", async () => {
    // r1 creates the key, r2 updates it (r1 goes: superseded at or below C), r3 updates r2 (r2 stays, C is r2).
    const odd = "/registry/configmaps/default/it's-ünïcødé 'q''uoted'";
    const log = await handLog([
      { rows: () => [row(odd, 0), row(odd, small.baseRevision + 1)], compact: () => 0 },
      { rows: () => [row(odd, small.baseRevision + 2)], compact: (first) => first - 1 },
    ]);
    const { ahead: got } = await expectSame(log, log.lastRevision);
    expect(got.compactedAhead).toBe(1);
    const a = ahead(log, log.lastRevision);
    await a.done;
    const db = new Database(a.dbPath, { readonly: true });
    const kept = db.prepare("SELECT id, name, old_value FROM kine WHERE name = ? ORDER BY id").all(odd) as {
      id: number;
      name: string;
      old_value: Buffer | null;
    }[];
    db.close();
    expect(kept.map((r) => r.id)).toEqual([small.baseRevision + 2, small.baseRevision + 3]);
    expect(kept[0].old_value?.toString()).toBe(`value of ${odd} at ${small.baseRevision + 1}`);
  });

  it("a damaged object after the rows reached the point's compact revision: the restore stops before it, so nothing is left out", async () => {
    // The last object says kine compacted to r2 (r1 goes); the one before it is damaged, so the restore stops at r2 with r1 kept.
    const log = await handLog([
      { rows: (b) => [row(b.name, b.id), row(b.name, b.id + 1)], compact: () => 0 },
      { rows: (b) => [row(`${b.name}-a`, 0)], compact: () => 0 },
      { rows: (b) => [row(`${b.name}-b`, 0)], compact: (first) => first - 2 },
    ]);
    const victim = log.segments[1];
    const intact = log.objects.get(victim.key)!;
    log.objects.set(victim.key, intact.subarray(0, intact.length - 30));
    const a = ahead(log, log.lastRevision);
    const d = direct(log, log.lastRevision);
    const [ea, ed] = await Promise.all([outcome(a.done), outcome(d.done)]);
    expect(ea).toMatchObject({ ok: false, code: "log_damaged", details: { lostFrom: victim.first } });
    expect(ea).toEqual(ed);
    expect(dumpKine(a.dbPath)).toEqual(dumpKine(d.dbPath));
    expect(dumpKine(a.dbPath).revision).toBe(victim.first - 1);
  });

  it("two rows of the run naming the same previous row, both deleted by the compaction: SQLite still meets the duplicate (kine's UNIQUE index)", async () => {
    const log = await handLog([{ rows: (b) => [row(b.name, b.id), row(b.name, b.id + 1, 1), row(b.name, b.id + 1, 1)], compact: (first) => first + 2 }]);
    const got = await outcome(ahead(log, log.lastRevision).done);
    expect(got).toMatchObject({ ok: false, code: "log_damaged" });
    expect((got as { message: string }).message).toMatch(/UNIQUE constraint failed: kine\.name, kine\.prev_revision/);
    expect(await outcome(direct(log, log.lastRevision).done)).toMatchObject({ ok: false, code: "log_damaged" });
  });

  it("many logs of other shapes (seeds, segment sizes, where and how far kine compacts, a compacted object first or not), to points across them: the same database and report as each segment in turn, and the live one", async () => {
    // A small deterministic generator: every run of the suite meets the same cases, each one different
    // (SHAPES=40 SHAPE_SEED=7 look further; 75 other shapes passed when this was written).
    let state = Number(process.env.SHAPE_SEED ?? 0x5eed);
    const rand = (n: number) => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return (state >>> 8) % n;
    };
    let leftOut = 0;
    for (let c = 0; c < Number(process.env.SHAPES ?? 8); c++) {
      const dir = path.join(work, `shape-${c}`);
      mkdirSync(dir);
      const minSegments = 3 + rand(6);
      const log = await buildMemoryLog(dir, {
        seed: 100 + rand(1000),
        pass: PASS,
        generation: GEN,
        minSegments,
        logOverBase: rand(3),
        ticks: 1 + rand(12),
        compactAfter: Array.from({ length: 1 + rand(3) }, () => rand(minSegments)),
        compactRetain: 5 + rand(120),
        compactedFirst: rand(3),
      });
      const plain = log.segments.filter((x) => !x.compacted);
      const points = [log.lastRevision, ...Array.from({ length: 2 }, () => plain[rand(plain.length)]).map((x) => x.first + rand(x.last - x.first + 1))];
      for (const target of points) {
        const { ahead: got } = await expectSame(log, target);
        expect(got.revision).toBe(target);
        leftOut += got.compactedAhead ?? 0;
        // The live database at the target: inside a segment the restore compacts only as far as the
        // segment before it says (kine may have compacted anywhere in between), so it may keep rows the
        // live one had already compacted; compacted as far, the two are the same row for row.
        const a = ahead(log, target);
        await a.done;
        const live = dumpKine(log.copyAt(target));
        const restored = new Database(a.dbPath);
        expect(dumpKine(a.dbPath).compactRevision).toBeLessThanOrEqual(live.compactRevision);
        restored.prepare(KINE_COMPACT_SQL).run(live.compactRevision, live.compactRevision);
        restored.prepare(KINE_SET_COMPACT_REV_SQL).run(live.compactRevision);
        restored.close();
        expect(dumpKine(a.dbPath).rows).toEqual(live.rows);
      }
    }
    // The cases reach the rows the point's compaction deletes (not only logs where nothing is left out).
    expect(leftOut).toBeGreaterThan(0);
  }, 120_000);

  it("asks the store for the first objects before the base's first bytes, decodes them only after, and lets go of them when the base never comes", async () => {
    const bodies: Readable[] = [];
    let reads = 0;
    const watched = async (key: string) => {
      const body = await bulk.open(key);
      const read = body.read.bind(body);
      body.read = (n?: number) => (reads++, read(n));
      bodies.push(body);
      return body;
    };
    let begin!: () => void;
    const gate = new Promise<void>((resolve) => (begin = resolve));
    const prepared = prepareLog({
      segments: bulk.segments,
      target: bulk.lastRevision,
      open: watched,
      passphrase: PASS,
      baseRevision: bulk.baseRevision,
      startAfter: gate,
    });
    await sleep(300);
    // Round trips overlap the base's: the run's first objects and the walk's first were asked for.
    expect(bodies.length).toBeGreaterThan(1);
    expect(reads).toBe(0);
    // The base never comes: what was asked for is let go of (a stream, a socket, a descriptor each).
    await prepared.dispose();
    await sleep(50);
    expect(bodies.every((b) => b.destroyed)).toBe(true);

    // Without a run ahead (no base revision given), the walk's own first objects are asked for early.
    bodies.length = 0;
    const walkOnly = prepareLog({
      segments: bulk.segments,
      target: bulk.lastRevision,
      open: watched,
      passphrase: PASS,
      startAfter: new Promise<void>(() => {}),
    });
    await sleep(100);
    expect(bodies.length).toBeGreaterThan(1);
    expect(reads).toBe(0);
    await walkOnly.dispose();

    // The base comes: the same log applies as before, every object decoded once.
    bodies.length = 0;
    const once = new Promise<void>((resolve) => (begin = resolve));
    const dbPath = bulk.stage("gated");
    const again = prepareLog({
      segments: bulk.segments,
      target: bulk.lastRevision,
      open: watched,
      passphrase: PASS,
      baseRevision: bulk.baseRevision,
      startAfter: once,
    });
    await sleep(100);
    const asked = bodies.length;
    expect(asked).toBeGreaterThan(1);
    begin();
    await again.applyTo(dbPath);
    expect(dumpKine(dbPath).rows).toEqual(dumpKine(bulk.copyAt(bulk.lastRevision)).rows);
    // Nothing asked for twice: the objects asked for early were the ones the run and the walk took.
    expect(bodies.length).toBe(new Set(bulk.segments.map((x) => x.key)).size);
  });

  it("a base that never comes (its staging failed before its first byte, or while the store stalls): the run stops at once and lets go of its worker", async () => {
    // The base's first bytes never arrive: the run has not started and must not wait for them.
    const never = new Promise<void>(() => {});
    const unstarted = prepareLog({
      segments: bulk.segments,
      target: bulk.lastRevision,
      open: bulk.open,
      passphrase: PASS,
      baseRevision: bulk.baseRevision,
      startAfter: never,
    });
    await expect(Promise.race([unstarted.dispose().then(() => "stopped"), sleep(5000).then(() => "hung")])).resolves.toBe("stopped");
    // The store stops answering after the first object: the run waits on a fetch that never ends.
    let calls = 0;
    const stalled = prepareLog({
      segments: bulk.segments,
      target: bulk.lastRevision,
      open: (key) => (calls++ === 0 ? bulk.open(key) : new Promise<never>(() => {})),
      passphrase: PASS,
      baseRevision: bulk.baseRevision,
      startAfter: Promise.resolve(),
    });
    await sleep(200);
    await expect(Promise.race([stalled.dispose().then(() => "stopped"), sleep(5000).then(() => "hung")])).resolves.toBe("stopped");
    // The same log still applies afterwards (no worker or scratch left held).
    await expectSame(bulk, bulk.lastRevision);
  });
});

describe("the room the staged database may grow to", () => {
  it("is what the disk has free beyond the reserve for k3s, never less than the database already is", () => {
    const MiB = 1024 ** 2;
    expect(stagingRoom(10 * MiB, 1000 * MiB)).toBe(10 * MiB + 744 * MiB);
    expect(stagingRoom(10 * MiB, 100 * MiB)).toBe(10 * MiB);
  });

  it("stops the apply at it, both ways, as a staging error that clears the log, the file within it; with room, the whole log", async () => {
    const full = direct(bulk, bulk.lastRevision);
    await full.done;
    const base = statSync(bulk.stage(`size-${n++}`)).size;
    const grown = statSync(full.dbPath).size;
    expect(grown).toBeGreaterThan(base + 64 * 1024);
    const cap = base + Math.floor((grown - base) / 4);
    for (const way of ["direct", "ahead"] as const) {
      const dbPath = way === "ahead" ? null : bulk.stage(`capped-${n++}`);
      const run =
        way === "ahead"
          ? ahead(bulk, bulk.lastRevision, bulk.segments, cap)
          : {
              dbPath: dbPath!,
              done: applyLog({ dbPath: dbPath!, segments: bulk.segments, target: bulk.lastRevision, open: bulk.open, passphrase: PASS, maxBytes: cap }),
            };
      const failed = await run.done.then(
        () => null,
        (e: unknown) => e as Error & { reason?: string },
      );
      expect(failed?.name, way).toBe("StageError");
      expect(failed?.reason, way).toBe("no_space");
      expect(failed?.message, way).toMatch(
        /^The staged database under .* cannot grow further while the log is applied: its disk has no room left beyond the 256 MiB staging leaves free for k3s \(database or disk is full, \d+ MiB free now\)\. The log is not damaged/,
      );
      expect(statSync(run.dbPath).size, way).toBeLessThanOrEqual(cap);
    }
    // Room for it all: the same database as without a cap.
    const roomy = ahead(bulk, bulk.lastRevision, bulk.segments, grown + 1024 * 1024);
    await roomy.done;
    expect(dumpKine(roomy.dbPath)).toEqual(dumpKine(full.dbPath));
  });
});
