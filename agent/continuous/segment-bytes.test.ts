import { describe, it, expect, beforeAll, afterAll } from "vitest";
import Database from "better-sqlite3";
import path from "node:path";
import type { AgentDeps } from "../module";
import type { EmbeddedS3 } from "../../lib/storage/embedded-s3";
import type { TestServer } from "../testing/restore-fixtures";
import type { RunningKineWriter } from "../testing/kine-writer-process";
import {
  logProblems,
  pauseWriterOutsideTransaction,
  restoredAndLive,
  restoreToPoint,
  startLogTest,
  stopLogTest,
  storedSegments,
  takeLogPoint,
} from "../testing/continuous-fixtures";
import { KINE_INSERT_SQL } from "../kine/schema";
import { prng } from "../kine/simulator";
import { LogShipper } from "./shipper";
import { decodeSegment } from "./segment-codec";
import { countRowStatements } from "./segment-format";
import { readPassphrase } from "../config";

/**
 * A segment is capped by bytes as well as rows (reader.ts, MAX_BYTES_PER_READ): a burst of large binary
 * values (Helm release Secrets: gzip, ~0.3-1.5 MB, value and old_value) between two reads becomes
 * several segments each within the budget, one row larger than it a segment of its own, never a segment
 * a restore refuses (MAX_SEGMENT_TEXT). Real parts: the kine-like writer (paused while the burst is
 * written), s3rver, the real backup job as the base, the restore's own stager. A small budget here.
 */

const PASS = "segment bytes passphrase";
const BUDGET = 1 << 20;
let work: string;
let s3: EmbeddedS3;
let server: TestServer;
let writer: RunningKineWriter | null = null;
let deps: AgentDeps;
let shipper: LogShipper;

beforeAll(async () => {
  ({ work, s3, server, writer, deps } = await startLogTest({
    passphrase: PASS,
    prefix: "bytes",
    seed: 31,
    marker: "marker-BYTES",
    intervalMs: 50,
    compactEveryMs: 0,
  }));
  shipper = new LogShipper(deps, { intervalMs: 250, baseAtFirstStart: true, maxReadBytes: BUDGET });
}, 60_000);

afterAll(() => stopLogTest({ shipper, writer, s3, work }));

/** Binary bytes that are not UTF-8 (written as hex: twice their size in the segment's text). */
function binary(rand: () => number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = Math.floor(rand() * 256);
  b[0] = 0xff;
  return b;
}

/** Writes kine rows as kine does (old_value the previous row's value), on its own connection; the id of each. */
function writeRows(rows: { name: string; value: Buffer }[]): number[] {
  const db = new Database(server.dbPath, { fileMustExist: true });
  db.pragma("busy_timeout = 5000");
  try {
    const ins = db.prepare(KINE_INSERT_SQL);
    const latest = db.prepare("SELECT id, create_revision FROM kine WHERE name = ? ORDER BY id DESC LIMIT 1");
    return rows.map(({ name, value }) => {
      const p = latest.get(name) as { id: number; create_revision: number } | undefined;
      const r = p ? ins.run(name, 0, 0, p.create_revision || p.id, p.id, 0, value, p.id) : ins.run(name, 1, 0, 0, 0, 0, value, 0);
      return Number(r.lastInsertRowid);
    });
  } finally {
    db.close();
  }
}

/** name + value + old_value bytes of the rows first..last of a database (reader.ts rowBytes). */
function rangeBytes(dbPath: string, first: number, last: number): { rows: number; bytes: number } {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db
      .prepare(
        "SELECT COUNT(*) AS rows, SUM(length(CAST(name AS BLOB)) + IFNULL(length(value),0) + IFNULL(length(old_value),0)) AS bytes FROM kine WHERE id BETWEEN ? AND ?",
      )
      .get(first, last) as { rows: number; bytes: number };
  } finally {
    db.close();
  }
}

async function segmentText(key: string): Promise<string> {
  return decodeSegment(await deps.store().get(key), readPassphrase(deps.config));
}

describe("a burst of large values between two reads (real writer, s3rver, real base backup)", () => {
  it("becomes several segments within the byte budget, a row above it one of its own, each row once, in order; the restore equals the live database", async () => {
    await shipper.tick(); // the generation and its base
    const gen = shipper.position().generation!;
    expect(gen).toBeTruthy();
    await pauseWriterOutsideTransaction(writer!, server.dbPath);
    let ids: number[];
    let from: number;
    try {
      await shipper.tick();
      from = shipper.position().spooledRevision;
      const rand = prng(7);
      const names = Array.from({ length: 10 }, (_, i) => `/registry/secrets/default/sh.helm.release.v1.app-${i}.v1`);
      ids = writeRows([
        ...names.map((name) => ({ name, value: binary(rand, 300_000) })),
        // Updates: old_value is the previous 300 KB too (the segment rebuilds it; the read holds it).
        ...names.map((name) => ({ name, value: binary(rand, 300_000) })),
        // One row above the budget alone (value and old_value 1.8 MB).
        { name: names[3], value: binary(rand, 1_500_000) },
        ...names.slice(0, 4).map((name) => ({ name, value: binary(rand, 200_000) })),
      ]);
      // One round reads the whole burst, read after read, each stopping at the budget.
      await shipper.tick();
      expect(shipper.position().spooledRevision).toBe(ids[ids.length - 1]);
    } finally {
      writer!.process.kill("SIGCONT");
    }
    const point = await takeLogPoint(writer!, shipper, server.dbPath, path.join(work, "point-burst.db"));
    const segs = (await storedSegments(deps.store())).filter((s) => s.generation === gen);
    expect(logProblems(segs, shipper.position().baseRevision)).toEqual([]);
    expect(segs[segs.length - 1].last).toBe(point.revision);
    const burst = segs.filter((s) => s.last > from && s.first <= ids[ids.length - 1]);
    // 10×300 KB + 10×600 KB + 1.8 MB + 4×500 KB of rows: at least 12 segments of 1 MiB (one, uncapped).
    expect(burst.length).toBeGreaterThanOrEqual(12);
    let rows = 0;
    for (const s of burst) {
      const size = rangeBytes(point.copy, s.first, s.last);
      // Within the budget, or one row alone (the 1.8 MB one).
      if (s.first !== s.last) expect(size.bytes).toBeLessThanOrEqual(BUDGET);
      const text = await segmentText(s.key);
      // Every row of its range once (the writer does not compact here, so every id is a row).
      expect(countRowStatements(text)).toBe(s.last - s.first + 1);
      expect(size.rows).toBe(s.last - s.first + 1);
      // Hex doubles each byte; old_values kine's insert made are sub-selects.
      expect(text.length).toBeLessThanOrEqual(2 * Math.max(size.bytes, BUDGET) + 300 * size.rows + 1000);
      rows += size.rows;
    }
    const big = ids[20];
    expect(burst.find((s) => s.first <= big && big <= s.last)).toMatchObject({ first: big, last: big });
    expect(rows).toBe(burst[burst.length - 1].last - burst[0].first + 1);
    const { staged, applied } = await restoreToPoint(deps, "latest", { toRevision: point.revision }, path.join(work, "staging-burst"));
    expect(applied.revision).toBe(point.revision);
    const { got, want } = restoredAndLive(staged.dbPath, point.copy);
    expect(got.sequence).toBe(want.sequence);
    expect(got.rows.length).toBe(want.rows.length);
    expect(got.rows).toEqual(want.rows);
  }, 240_000);

  it("a row whose segment would be more than a restore reads: the log ends before it and a new base begins the next generation", async () => {
    const old = shipper.position();
    await shipper.stop();
    // A small text limit stands for MAX_SEGMENT_TEXT (a kine row of more than ~128 MiB).
    shipper = new LogShipper(deps, { intervalMs: 250, baseAtFirstStart: true, maxReadBytes: BUDGET, maxSegmentText: 2 << 20 });
    await pauseWriterOutsideTransaction(writer!, server.dbPath);
    let id: number;
    try {
      await shipper.tick();
      const before = shipper.position().spooledRevision;
      [id] = writeRows([{ name: "/registry/secrets/default/sh.helm.release.v1.huge.v1", value: binary(prng(9), 1_200_000) }]);
      await shipper.tick();
      const pos = shipper.position();
      expect(pos.generation).not.toBe(old.generation);
      expect(pos.generationReason).toMatch(
        new RegExp(`^the row at revision ${id} would make a log segment of 2\\.3 MiB, more than a restore reads \\(2\\.0 MiB\\)`),
      );
      expect(pos.baseRevision).toBeGreaterThanOrEqual(id);
      // The old generation ends before the row: no segment of it holds the row.
      const oldSegs = (await storedSegments(deps.store())).filter((s) => s.generation === old.generation);
      expect(oldSegs[oldSegs.length - 1].last).toBe(before);
      expect(oldSegs[oldSegs.length - 1].last).toBeLessThan(id);
    } finally {
      writer!.process.kill("SIGCONT");
    }
    const point = await takeLogPoint(writer!, shipper, server.dbPath, path.join(work, "point-huge.db"));
    const { plan, staged } = await restoreToPoint(deps, "latest", { toRevision: point.revision }, path.join(work, "staging-huge"));
    expect(plan.generation).toBe(shipper.position().generation);
    const { got, want } = restoredAndLive(staged.dbPath, point.copy);
    expect(got.rows).toEqual(want.rows);
  }, 240_000);
});
