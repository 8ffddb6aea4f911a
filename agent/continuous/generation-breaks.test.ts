import { describe, it, expect, beforeEach, afterEach } from "vitest";
import Database from "better-sqlite3";
import { setTimeout as sleep } from "node:timers/promises";
import type { EmbeddedS3 } from "../../lib/storage/embedded-s3";
import type { AgentDeps } from "../module";
import { KINE_INSERT_SQL } from "../kine/schema";
import type { RunningKineWriter } from "../testing/kine-writer-process";
import type { TestServer } from "../testing/restore-fixtures";
import { startLogTest, stopLogTest, storedSegments } from "../testing/continuous-fixtures";
import { LogShipper } from "./shipper";
import { planPoint } from "./point-in-time";
import { decodeSegment } from "./segment-codec";
import { parseSegmentHeader } from "./segment-format";

/**
 * When the log must begin a new generation, and when it must not, against real parts: the kine-like
 * writer process, s3rver, the real backup job as each base, the restore's own stager. A generation is
 * one database's history: rows of another database must never be shipped into it (docs/continuous.md).
 *
 * "Another database" here is what a restore or a new server puts in place: a copy of this one taken at
 * an earlier point that k3s then wrote past the base's revision (other rows at the same revisions), or
 * a copy sharing the log's newest rows with an older object edited (only the file tells it apart).
 */

const PASS = "generation breaks test passphrase";
let work: string;
let s3: EmbeddedS3;
let server: TestServer;
let writer: RunningKineWriter | null = null;
let deps: AgentDeps;
let shipper: LogShipper | null = null;

beforeEach(async () => {
  ({ work, s3, server, writer, deps } = await startLogTest({
    passphrase: PASS,
    prefix: "gen",
    seed: 16,
    marker: "marker-GEN",
    intervalMs: 40,
    compactEveryMs: 0,
  }));
}, 60_000);

afterEach(() => stopLogTest({ shipper: shipper ?? undefined, writer, s3, work }).then(() => (shipper = null)));

const segmentsOf = async (generation: string) => (await storedSegments(deps.store())).filter((s) => s.generation === generation);

describe("what a segment's name and the protection line say", () => {
  it("every row of a segment was written at or before the time in its name and header: --to-time T never brings a change made after T", async () => {
    // A change committed just after the shipper read the clock for a round (another connection, as k3s's).
    const conn = new Database(server.dbPath);
    conn.pragma("busy_timeout = 5000");
    const insert = conn.prepare(KINE_INSERT_SQL);
    const changes: { id: number; before: number; after: number }[] = [];
    let armed = false;
    const now = () => {
      const t = new Date();
      if (armed) {
        armed = false;
        const before = Date.now();
        const id = Number(insert.run(`/registry/configmaps/default/clock-${changes.length}`, 1, 0, 0, 0, 0, Buffer.from("v"), 0).lastInsertRowid);
        changes.push({ id, before, after: Date.now() });
      }
      return t;
    };
    try {
      shipper = new LogShipper(deps, { intervalMs: 1_000_000, baseAtFirstStart: true, now });
      await shipper.tick();
      await shipper.tick();
      for (let i = 0; i < 6; i++) {
        await sleep(170);
        armed = true;
        await shipper.tick();
      }
    } finally {
      conn.close();
    }
    expect(changes).toHaveLength(6);
    const segs = await segmentsOf(shipper.position().generation!);
    for (const c of changes) {
      const seg = segs.find((s) => s.first <= c.id && c.id <= s.last)!;
      expect(seg.readAt.getTime()).toBeGreaterThanOrEqual(c.after);
      const header = parseSegmentHeader(await decodeSegment(await deps.store().get(seg.key), PASS))!;
      expect(Date.parse(header.readAt)).toBeGreaterThanOrEqual(c.after);
      expect(Date.parse(header.readAt)).toBeLessThanOrEqual(seg.readAt.getTime());
      const plan = await planPoint(deps, "latest", { toTime: new Date(c.before - 1).toISOString() });
      expect(plan.target).toBeLessThan(c.id);
    }
  }, 120_000);
});
