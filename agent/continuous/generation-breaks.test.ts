import { describe, it, expect, beforeEach, afterEach } from "vitest";
import Database from "better-sqlite3";
import { copyFileSync, existsSync, renameSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { EmbeddedS3 } from "../../lib/storage/embedded-s3";
import { parseSetId } from "../../lib/contracts/backup-names";
import type { AgentDeps } from "../module";
import { KINE_INSERT_SQL } from "../kine/schema";
import { startBackupJob } from "../backup/run-backup";
import { spawnKineWriter, type RunningKineWriter } from "../testing/kine-writer-process";
import { waitFor, type TestServer } from "../testing/restore-fixtures";
import {
  compactKine,
  copyLive,
  logProblems,
  restoredAndLive,
  restoreToPoint,
  startLogTest,
  stopLogTest,
  storedSegments,
  takeLogPoint,
} from "../testing/continuous-fixtures";
import { LogShipper } from "./shipper";
import { offerBase } from "./base-hook";
import { fileAt } from "./file-id";
import { continuousDir } from "./position";
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

const maxId = (dbPath: string) => {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT IFNULL(MAX(id), 0) FROM kine").pluck().get() as number;
  } finally {
    db.close();
  }
};

const writerPast = (revision: number) =>
  waitFor(async () => ((await writer!.report()).revision > revision ? true : undefined), 60_000, `the writer past revision ${revision}`);

async function stopWriter(): Promise<void> {
  await writer!.stop();
  writer = null;
}

async function stopShipper(): Promise<void> {
  await shipper!.stop();
  shipper = null;
}

/** Removes the live database's -wal and -shm (the writer stopped), as a restore does before moving its file in. */
function dropWal(): void {
  for (const f of ["-wal", "-shm"]) rmSync(server.dbPath + f, { force: true });
}

/** Moves `from` into place as a restore does: another file (another inode) renamed over the database. */
function moveIn(from: string): void {
  const staged = server.dbPath + ".restored";
  copyFileSync(from, staged);
  dropWal();
  renameSync(staged, server.dbPath);
}

/** A copy of the live database with an older object's value edited: the log's newest rows the same, the database another. */
async function editedCopy(dest: string, id?: number): Promise<number> {
  await copyLive(server.dbPath, dest);
  const db = new Database(dest);
  try {
    const at = id ?? (db.prepare("SELECT MIN(id) FROM kine WHERE name LIKE '/registry/%' AND deleted = 0").pluck().get() as number);
    db.prepare("UPDATE kine SET value = CAST('edited by another cluster' AS BLOB) WHERE id = ?").run(at);
    return at;
  } finally {
    db.close();
  }
}

/** Holds a job group (a backup, a restore) until released, as a job of that group would. */
function holdJobGroup(group: "backup" | "datastore"): () => Promise<void> {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const { done } = deps.jobs.start({
    type: group === "backup" ? "backup" : "restore",
    group,
    steps: [{ name: "hold", label: "Hold" }],
    run: async (job) => {
      job.step("hold");
      await gate;
      return null;
    },
  });
  return async () => {
    release();
    await done;
  };
}

const segmentsOf = async (generation: string) => (await storedSegments(deps.store())).filter((s) => s.generation === generation);

describe("a new generation when the database is another one", () => {
  it("a generation just begun; while the agent is down its file is overwritten in place (same inode) by an earlier copy k3s then wrote past the base: a new generation, none of those rows in the old one", async () => {
    const earlier = path.join(work, "earlier.db");
    await copyLive(server.dbPath, earlier);
    await writerPast(maxId(earlier) + 30);
    shipper = new LogShipper(deps, { intervalMs: 1_000_000, baseAtFirstStart: true });
    await shipper.tick();
    const gen1 = shipper.position();
    expect(gen1.generation).toBeTruthy();
    await stopShipper();
    await stopWriter();
    const ino = statSync(server.dbPath).ino;
    dropWal();
    copyFileSync(earlier, server.dbPath);
    expect(statSync(server.dbPath).ino).toBe(ino);
    // k3s on the restored database writes past the base's revision: other rows at the same revisions.
    writer = await spawnKineWriter({ db: server.dbPath, intervalMs: 20, compactEveryMs: 0, seed: 99 });
    await writerPast(gen1.baseRevision + 30);
    shipper = new LogShipper(deps, { intervalMs: 1_000_000 });
    await shipper.tick();
    const pos = shipper.position();
    expect(pos.generation).not.toBe(gen1.generation);
    expect(pos.generationReason).toMatch(new RegExp(`revision ${gen1.baseRevision} is another one`));
    expect(await segmentsOf(gen1.generation!)).toEqual([]);
  }, 120_000);

  it("the agent restarted after its file was replaced (another inode) by a copy sharing the log's newest rows: a new generation, and its log restores the new database row for row", async () => {
    shipper = new LogShipper(deps, { intervalMs: 1_000_000, baseAtFirstStart: true });
    await shipper.tick();
    await waitFor(
      async () => {
        await shipper!.tick();
        return shipper!.status().segments > 1 ? true : undefined;
      },
      60_000,
      "segments shipped",
    );
    const gen1 = shipper.position();
    await stopShipper();
    await stopWriter();
    const other = path.join(work, "other.db");
    await editedCopy(other);
    moveIn(other);
    shipper = new LogShipper(deps, { intervalMs: 1_000_000 });
    await shipper.tick();
    const pos = shipper.position();
    expect(pos.generation).not.toBe(gen1.generation);
    expect(pos.generationReason).toMatch(/file was replaced \(another inode/);
    expect((await segmentsOf(gen1.generation!)).filter((s) => s.last > gen1.spooledRevision)).toEqual([]);
    // The new generation is the new database's: a restore of its newest point equals it row for row.
    writer = await spawnKineWriter({ db: server.dbPath, intervalMs: 40, compactEveryMs: 0, seed: 16 });
    await writerPast(pos.baseRevision + 20);
    const p = await takeLogPoint(writer, shipper, server.dbPath, path.join(work, "point.db"));
    const segs = await segmentsOf(pos.generation!);
    expect(logProblems(segs, pos.baseRevision)).toEqual([]);
    const { plan, staged } = await restoreToPoint(deps, "latest", { toRevision: p.revision }, path.join(work, "staging"));
    expect(plan.generation).toBe(pos.generation);
    const { got, want } = restoredAndLive(staged.dbPath, p.copy);
    expect(got.rows).toEqual(want.rows);
  }, 180_000);

  it("running, the file replaced by an earlier copy right after a generation began, and the first new base refused (a backup already running): the next round still begins the generation, none of its rows in the old one", async () => {
    const earlier = path.join(work, "earlier.db");
    await copyLive(server.dbPath, earlier);
    await writerPast(maxId(earlier) + 30);
    await stopWriter(); // a quiet cluster: nothing after the base to ship before the restore
    shipper = new LogShipper(deps, { intervalMs: 1_000_000, baseAtFirstStart: true });
    await shipper.tick();
    const gen1 = shipper.position();
    await shipper.tick(); // nothing new; the reader has the file open
    expect(shipper.status().segments).toBe(0);
    moveIn(earlier);
    writer = await spawnKineWriter({ db: server.dbPath, intervalMs: 20, compactEveryMs: 0, seed: 99 });
    await writerPast(gen1.baseRevision + 30);
    const release = holdJobGroup("backup");
    try {
      await shipper.tick(); // sees the file replaced; its base cannot start
      expect(shipper.status().problem).toMatch(/already running/);
      expect(shipper.position().generation).toBe(gen1.generation);
    } finally {
      await release();
    }
    await shipper.tick();
    const pos = shipper.position();
    expect(pos.generation).not.toBe(gen1.generation);
    expect(pos.generationReason).toMatch(/file was replaced/);
    expect(await segmentsOf(gen1.generation!)).toEqual([]);
  }, 120_000);

  it("a backup that ended while a restore ran, which then moved another database in: not the log's first base; a backup of the database in place is", async () => {
    shipper = new LogShipper(deps, { intervalMs: 1_000_000 });
    await shipper.tick();
    expect(shipper.status().problem).toMatch(/Waiting for the first backup set/);
    const release = holdJobGroup("datastore");
    let first: string;
    try {
      const job = await startBackupJob(deps, { retention: false, allowNewPassphrase: false }, "api").done;
      expect(job.state).toBe("succeeded");
      first = (job.result as { setId: string }).setId;
      await shipper.tick(); // nothing while the restore runs
      await stopWriter();
      const other = path.join(work, "other.db");
      await editedCopy(other);
      moveIn(other);
    } finally {
      await release();
    }
    await shipper.tick();
    expect(shipper.position().generation).toBeNull();
    expect(shipper.status().problem).toMatch(/Waiting for the first backup set/);
    // The same set offered by a backup of its own process, with the file its snapshot read: not taken either.
    offerBase(deps.config.stateDir, { setId: first, revision: 1, file: { dev: 0, ino: 1 } });
    await shipper.tick();
    expect(existsSync(continuousDir(deps.config.stateDir).baseOffer)).toBe(false);
    expect(shipper.position().generation).toBeNull();
    // A backup of the database now in place is the base.
    const job = await startBackupJob(deps, { retention: false, allowNewPassphrase: false }, "api").done;
    expect(job.state).toBe("succeeded");
    await shipper.tick();
    const pos = shipper.position();
    expect(pos.generation).toBeTruthy();
    expect(pos.baseSetId).toBe((job.result as { setId: string }).setId);
    expect(pos.file).toEqual(fileAt(server.dbPath));
  }, 120_000);
});

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

  it("right after a new generation, protected up to the base's snapshot: what was written while the base was taken is not shipped yet", async () => {
    shipper = new LogShipper(deps, { intervalMs: 1_000_000, baseAtFirstStart: true });
    await shipper.tick();
    const pos = shipper.position();
    const st = shipper.status();
    const snapshot = parseSetId(pos.baseSetId!)!.time;
    expect(st.shippedRevision).toBe(pos.baseRevision);
    expect(st.shippedAt).toBe(snapshot.toISOString());
    expect(st.lagSeconds).toBeGreaterThanOrEqual((Date.parse(pos.generationStartedAt!) - snapshot.getTime()) / 1000);
    expect((await writer!.report()).revision).toBeGreaterThan(pos.baseRevision);
    // The same after a restart.
    await stopShipper();
    shipper = new LogShipper(deps, { intervalMs: 1_000_000 });
    expect(shipper.status().shippedAt).toBe(snapshot.toISOString());
  }, 120_000);
});

describe("no new generation when nothing was lost", () => {
  it("kine compacted exactly to the last shipped revision, a tombstone: the same generation, and it restores row for row; a database replaced then is still seen", async () => {
    shipper = new LogShipper(deps, { intervalMs: 1_000_000, baseAtFirstStart: true });
    await shipper.tick();
    const gen1 = shipper.position().generation!;
    await stopWriter();
    /** A key created and deleted (its tombstone the newest row), shipped; then more rows, and kine's compaction to that tombstone. */
    const tombstoneCompacted = async (tag: string): Promise<number> => {
      const db = new Database(server.dbPath);
      const insert = db.prepare(KINE_INSERT_SQL);
      const key = `/registry/configmaps/default/short-lived-${tag}`;
      const created = Number(insert.run(key, 1, 0, 0, 0, 0, Buffer.from("v1"), 0).lastInsertRowid);
      const tombstone = Number(insert.run(key, 0, 1, created, created, 0, Buffer.from("v1"), created).lastInsertRowid);
      await shipper!.tick();
      expect(shipper!.position().spooledRevision).toBe(tombstone);
      for (let i = 0; i < 3; i++) insert.run(`/registry/configmaps/default/after-${tag}-${i}`, 1, 0, 0, 0, 0, Buffer.from("v"), 0);
      db.close();
      compactKine(server.dbPath, tombstone);
      expect(maxId(server.dbPath)).toBeGreaterThan(tombstone);
      return tombstone;
    };
    await tombstoneCompacted("a");
    await shipper.tick();
    expect(shipper.position().generation).toBe(gen1);
    expect(shipper.position().spooledRevision).toBe(maxId(server.dbPath));
    writer = await spawnKineWriter({ db: server.dbPath, intervalMs: 40, compactEveryMs: 0, seed: 16 });
    await writerPast(maxId(server.dbPath) + 20);
    const p = await takeLogPoint(writer, shipper, server.dbPath, path.join(work, "point.db"));
    expect(shipper.position().generation).toBe(gen1);
    const segs = await segmentsOf(gen1);
    expect(logProblems(segs, shipper.position().baseRevision)).toEqual([]);
    const { staged } = await restoreToPoint(deps, "latest", { toRevision: p.revision }, path.join(work, "staging"));
    const { got, want } = restoredAndLive(staged.dbPath, p.copy);
    expect(got.rows).toEqual(want.rows);
    // Again, and while the agent is down the file is overwritten in place by a copy whose newest kept row differs.
    await stopWriter();
    await tombstoneCompacted("b");
    const anchor = shipper.position().spooledAnchor!;
    await stopShipper();
    const other = path.join(work, "other.db");
    await editedCopy(other, anchor.revision);
    dropWal();
    copyFileSync(other, server.dbPath);
    shipper = new LogShipper(deps, { intervalMs: 1_000_000 });
    await shipper.tick();
    expect(shipper.position().generation).not.toBe(gen1);
    expect(shipper.position().generationReason).toMatch(new RegExp(`row at revision ${anchor.revision} .* is another one`));
  }, 180_000);
});
