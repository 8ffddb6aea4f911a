import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import { segmentKey } from "../../lib/contracts/continuous";
import { openKineDb } from "../kine/schema";
import { KineSimulator } from "../kine/simulator";
import { parseStrace, type TraceCall } from "../testing/durability-trace";
import { dumpKine } from "../testing/continuous-fixtures";
import { formatSegment, type KineRow } from "./segment-format";
import { encodeSegment } from "./segment-codec";

/**
 * A restore's point in time is durable before the journal says "staged": applyLog runs without
 * SQLite's fsync per segment (they were most of its time) and fsyncs the database once at the end.
 * Traced with strace in a process of its own (agent/testing/apply-log-traced.ts): with `durable`, the
 * last write to the database is followed by an fsync of it; a drill's apply (not durable) has none
 * at all, so the one seen is applyLog's, not SQLite's.
 */

const ROOT = path.resolve(import.meta.dirname, "../..");
const SCRIPT = path.join(ROOT, "agent/testing/apply-log-traced.ts");
const PASS = "apply durability passphrase";
const hasStrace = spawnSync("strace", ["-V"], { stdio: "ignore" }).status === 0;
// `.ci/run` installs strace; under CI a missing strace fails the test instead of skipping it.
const needStrace = describe.skipIf(!hasStrace && !process.env.CI);

let work: string;
let segDir: string;
let target: number;
let live: ReturnType<typeof dumpKine>;

/** Applies the log to a copy of the base under strace; the database's path and the traced calls. */
function tracedApply(name: string, mode: "durable" | "drill"): { db: string; calls: TraceCall[] } {
  if (!hasStrace) throw new Error("strace is not installed, and CI is set: apt-get install strace (.ci/run does).");
  const db = path.join(work, `${name}.db`);
  copyFileSync(path.join(work, "base.db"), db);
  const trace = path.join(work, `${name}.strace`);
  const r = spawnSync(
    "strace",
    [
      "-f",
      "-y",
      "-o",
      trace,
      "-e",
      "trace=write,pwrite64,writev,pwritev,fsync,fdatasync",
      "--",
      process.execPath,
      "--import",
      "tsx",
      SCRIPT,
      db,
      segDir,
      String(target),
      mode,
      path.join(work, "pass"),
    ],
    { cwd: ROOT, encoding: "utf8", timeout: 120_000 },
  );
  expect(r.status, r.stderr).toBe(0);
  return { db, calls: parseStrace(readFileSync(trace, "utf8")) };
}

const onFile = (c: TraceCall, file: string) => /^\d+<(.*?)>/.exec(c.args)?.[1] === file;
const isWrite = (c: TraceCall) => /^(p?writev?|pwrite64|pwritev2?)$/.test(c.call);
const isSync = (c: TraceCall) => c.call === "fsync" || c.call === "fdatasync";

needStrace("applying the log: one fsync at the end instead of SQLite's per segment", () => {
  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), "lifeboat-apply-durable-"));
    writeFileSync(path.join(work, "pass"), `${PASS}\n`, { mode: 0o600 });
    segDir = path.join(work, "segments");
    mkdirSync(segDir);
    const db = openKineDb(path.join(work, "live.db"));
    const sim = new KineSimulator(db, { seed: 5 });
    sim.seed();
    db.exec(`VACUUM INTO '${path.join(work, "base.db")}'`);
    let from = sim.currentRevision() + 1;
    // Three segments of real kine rows after the base, as the shipper writes them.
    for (let s = 0; s < 3; s++) {
      for (let i = 0; i < 40; i++) sim.tick();
      const rows = (db.prepare("SELECT * FROM kine WHERE id >= ? ORDER BY id").all(from) as KineRow[]).map((r) => ({ ...r, oldValueRebuildable: false }));
      const last = rows[rows.length - 1].id;
      const readAt = new Date(Date.UTC(2026, 11, 3, 12, 0, s * 10));
      const header = { generation: "20261203T120000Z", first: from, last, compactRevision: 0, readAt: readAt.toISOString() };
      writeFileSync(path.join(segDir, segmentKey(header.generation, from, last, readAt)), await encodeSegment(formatSegment(header, rows), PASS));
      from = last + 1;
    }
    target = from - 1;
    db.close();
    live = dumpKine(path.join(work, "live.db"));
  }, 120_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("a restore's apply fsyncs the database after its last write to it, and brings it to the target", () => {
    const { db, calls } = tracedApply("restore", "durable");
    const last = calls.findLastIndex((c) => isWrite(c) && onFile(c, db));
    expect(last, "the apply wrote nothing to the database").toBeGreaterThanOrEqual(0);
    expect(calls.slice(last + 1).some((c) => isSync(c) && onFile(c, db))).toBe(true);
    const got = dumpKine(db);
    expect(got.revision).toBe(target);
    expect(got.rows).toEqual(live.rows);
  });

  it("a drill's apply (nothing to keep) fsyncs nothing: SQLite's own fsyncs are off while applying", () => {
    const { db, calls } = tracedApply("drill", "drill");
    expect(calls.some((c) => isWrite(c) && onFile(c, db))).toBe(true);
    expect(calls.filter((c) => isSync(c) && onFile(c, db))).toEqual([]);
    expect(dumpKine(db).revision).toBe(target);
  });
});
