import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { startEmbeddedS3, type EmbeddedS3 } from "../../lib/storage/embedded-s3";
import { hasErrorCode } from "../../lib/contracts/errors";
import { GenerationMarker, generationKey } from "../../lib/contracts/continuous";
import type { AgentDeps } from "../module";
import { spawnKineWriter, type RunningKineWriter } from "../testing/kine-writer-process";
import { makeTestServer, waitFor, type TestServer } from "../testing/restore-fixtures";
import {
  dumpKine,
  logProblems,
  readStoreText,
  replaceDatabase,
  restoreToPoint,
  storedSegments,
  takeLogPoint,
  type LogPoint,
  startLogTest,
  stopLogTest,
  restoredAndLive,
  withShippedWhilePaused,
} from "../testing/continuous-fixtures";
import { LogShipper } from "./shipper";
import { offerBase } from "./base-hook";
import { continuousDir } from "./position";
import { planPoint } from "./point-in-time";
import { listStoreSets } from "../backup/sets";
import { listLog } from "./log-listing";
import { clearTimelineCache, readTimeline } from "./timeline";
import { StorageError } from "../../lib/storage/errors";
import type { LogDamagedError } from "./apply";
import type { BackupStore, ListOptions } from "../../lib/storage/backup-store";

/**
 * The log against real parts: the kine-like writer process (with its compactor running), s3rver on
 * loopback, the real backup job as each generation's base, and the restore's own stager. Each point is
 * taken with the writer paused (SIGSTOP): a read by the shipper and a copy of the live database at the
 * same revision, which the restore to that revision must equal row for row.
 */

const PASS = "continuous test passphrase";
let work: string;
let s3: EmbeddedS3;
let server: TestServer;
let writer: RunningKineWriter | null = null;
let deps: AgentDeps;
let shipper: LogShipper;
const points: LogPoint[] = [];

/** Pauses the writer, lets the shipper read and upload everything, copies the live database, resumes. */
function takePoint(name: string): Promise<LogPoint> {
  return takeLogPoint(writer!, shipper, server.dbPath, path.join(work, `point-${name}.db`));
}

function restoreTo(revision: number, name: string) {
  return restoreToPoint(deps, "latest", { toRevision: revision }, path.join(work, `staging-${name}`));
}

beforeAll(async () => {
  ({ work, s3, server, writer, deps } = await startLogTest({
    passphrase: PASS,
    prefix: "log",
    seed: 16,
    marker: "marker-LOG",
    intervalMs: 100,
    compactEveryMs: 700,
  }));
  shipper = new LogShipper(deps, { intervalMs: 250, baseAtFirstStart: true });
}, 60_000);

afterAll(() => stopLogTest({ shipper, writer, s3, work }));

describe("the log (real writer, s3rver, real base backups)", () => {
  it("ships every revision once, in order, while kine compacts, and a restore to each point equals the live database at it row for row", async () => {
    shipper.start();
    await waitFor(() => (shipper.status().segments > 0 ? true : undefined), 60_000, "a first segment");
    const gen = shipper.position().generation!;
    expect(shipper.position().generationReason).toMatch(/first start/);
    const before = (await writer!.report()).compactions;
    for (let i = 0; i < 4; i++) {
      await sleep(1000);
      points.push(await takePoint(String(i)));
    }
    expect((await writer!.report()).compactions).toBeGreaterThan(before); // compaction ran while shipping
    const segs = await storedSegments(deps.store());
    expect(segs.every((s) => s.generation === gen)).toBe(true);
    expect(logProblems(segs, shipper.position().baseRevision)).toEqual([]);
    expect(segs[segs.length - 1].last).toBe(points[points.length - 1].revision);
    // The spool is empty once all is shipped: looked at with the writer paused, or a round of the
    // running shipper may be spooling its rows just then (it failed so once, at load 9).
    await withShippedWhilePaused(writer!, shipper, async () => expect(readdirSync(continuousDir(deps.config.stateDir).spool)).toEqual([]));
    // Every uploaded byte is in the daily series, on the day its rows were read (today: the day in progress).
    const pos = shipper.position();
    const mine = pos.dailyBytes.filter((d) => d.generation === gen);
    expect(mine.reduce((n, d) => n + d.bytes, 0)).toBe(pos.bytes);
    expect(mine.reduce((n, d) => n + d.segments, 0)).toBe(pos.segments);
    expect(shipper.status().dailyBytes.map((d) => d.bytes)).toEqual(mine.map((d) => d.bytes));
    // Compaction moved between the points, so each restore has its own compact revision to set.
    expect(new Set(points.map((p) => p.compact)).size).toBeGreaterThan(1);
    for (const [i, p] of points.entries()) {
      const { staged, applied } = await restoreTo(p.revision, String(i));
      expect(applied.revision).toBe(p.revision);
      // A compaction after the point's last write is in the live copy but in no segment (kine updates
      // compact_rev_key in place): restoredAndLive runs it on the restore, and refuses one that is ahead.
      const { got, want } = restoredAndLive(staged.dbPath, p.copy);
      expect(got.compactRevision).toBe(want.compactRevision);
      expect(got.sequence).toBe(want.sequence);
      expect(got.rows.length).toBe(want.rows.length);
      expect(got.rows).toEqual(want.rows);
    }
  }, 240_000);

  it("lists the store once for a point restore: the stager takes the base set the plan listed", async () => {
    const store = deps.store();
    const listed: string[] = [];
    const counting = new Proxy(store, {
      get(target, key) {
        const v = Reflect.get(target, key, target) as unknown;
        if (key === "list")
          return (o?: ListOptions) => {
            listed.push(o?.prefix ?? "");
            return store.list(o);
          };
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const p = points[points.length - 1];
    const { staged } = await restoreToPoint({ ...deps, store: () => counting }, "latest", { toRevision: p.revision }, path.join(work, "staging-once"));
    const { got, want } = restoredAndLive(staged.dbPath, p.copy);
    expect(got.rows).toEqual(want.rows);
    // One listing of the whole prefix (the sets) and one of the log's objects, one page each here.
    expect(listed.filter((x) => x === "").length).toBe(1);
    expect(listed.filter((x) => x !== "").length).toBe(1);
  }, 60_000);

  it("keeps reading while the store is down (past kine's 1000 kept revisions), then uploads the spool in order, same generation", async () => {
    const gen = shipper.position().generation;
    const port = s3.port;
    await s3.stop();
    // A round may have been uploading when the store went away: let it end, then nothing more may land.
    await shipper.tick();
    const from = shipper.position().uploadedRevision;
    const start = (await writer!.report()).revision;
    await waitFor(async () => ((await writer!.report()).revision > start + 1200 ? true : undefined), 120_000, "1200 revisions written");
    await waitFor(() => (shipper.status().pendingSegments > 1 ? true : undefined), 30_000, "segments waiting in the spool");
    expect(shipper.status().problem).toMatch(/wait in the spool/);
    expect(shipper.position().uploadedRevision).toBe(from);
    s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["backups"], port });
    const p = await takePoint("after-outage");
    expect(shipper.status().pendingSegments).toBe(0);
    expect(shipper.status().problem).toBeNull();
    expect(shipper.position().generation).toBe(gen);
    const segs = await storedSegments(deps.store());
    expect(logProblems(segs, shipper.position().baseRevision)).toEqual([]);
    const { staged } = await restoreTo(p.revision, "after-outage");
    const outage = restoredAndLive(staged.dbPath, p.copy);
    expect(outage.got.rows).toEqual(outage.want.rows);
    points.push(p);
  }, 240_000);

  it("a missing or damaged segment: the restore stops before it, names the lost revisions and offers the newest point before them", async () => {
    const segs = await storedSegments(deps.store());
    const target = segs[segs.length - 1].last;
    const victim = segs[Math.floor(segs.length / 2)];
    const body: Buffer[] = [];
    for await (const c of await deps.store().get(victim.key)) body.push(c as Buffer);
    await deps.store().delete(victim.key);
    const missing = await restoreTo(target, "missing").then(
      () => null,
      (e: unknown) => e,
    );
    expect(hasErrorCode(missing, "log_damaged")).toBe(true);
    const d = (missing as LogDamagedError).details as { lostFrom: number; newestPoint: { revision: number } };
    expect(d.lostFrom).toBe(victim.first);
    expect(d.newestPoint.revision).toBe(victim.first - 1);
    expect((missing as Error).message).toContain(`--to-revision ${victim.first - 1}`);
    // Damaged: the bytes are there but altered in the middle.
    const bad = Buffer.concat(body);
    bad[Math.floor(bad.length / 2)] ^= 0xff;
    await deps.store().put(victim.key, Readable.from([bad]));
    const damaged = await restoreTo(target, "damaged").then(
      () => null,
      (e: unknown) => e,
    );
    expect(hasErrorCode(damaged, "log_damaged")).toBe(true);
    expect(((damaged as LogDamagedError).details as { segment: string }).segment).toBe(victim.key);
    // The point offered restores: the revision just before the damaged segment.
    const { staged, applied } = await restoreTo(victim.first - 1, "offered");
    expect(applied.revision).toBe(victim.first - 1);
    expect(dumpKine(staged.dbPath).revision).toBe(victim.first - 1);
    await deps.store().put(victim.key, Readable.from([Buffer.concat(body)]));
  }, 240_000);

  it("to a time: the newest segment read at or before it", async () => {
    const segs = await storedSegments(deps.store());
    const mid = segs[Math.floor(segs.length / 3)];
    const plan = await planPoint(deps, "latest", { toTime: new Date(mid.readAt.getTime() + 999).toISOString() });
    const sameSecond = segs.filter((s) => s.readAt.getTime() === mid.readAt.getTime());
    expect(plan.target).toBe(sameSecond[sameSecond.length - 1].last);
    // Before the first segment but not before the base set: the base itself is the newest state then.
    const { sets } = await listStoreSets(deps.store());
    const base = sets.find((s) => s.id === plan.baseSetId)!;
    const first = segs[0];
    if (first.readAt.getTime() - base.time.getTime() > 1) {
      const atBase = await planPoint(deps, "latest", { toTime: new Date(first.readAt.getTime() - 1).toISOString() });
      expect(atBase.target).toBe(atBase.baseRevision);
      expect(atBase.targetReadAt).toBeNull();
    }
    // Before the base: nothing the log holds is that old, so no point is offered as if it were.
    const tooOld = new Date(base.time.getTime() - 3_600_000).toISOString();
    const refused = await planPoint(deps, "latest", { toTime: tooOld }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(hasErrorCode(refused, "no_log_point")).toBe(true);
    expect((refused as Error).message).toContain(`begins with backup set ${base.id}`);
    expect((refused as { details?: Record<string, unknown> }).details).toMatchObject({ earliest: base.time.toISOString() });
  }, 60_000);

  it("a damaged generation marker: no point is offered, and the answer names the marker; a store failing to read it fails the listing", async () => {
    const gen = shipper.position().generation!;
    const key = generationKey(gen);
    const good = await readStoreText(deps.store(), key);
    const target = (await storedSegments(deps.store())).at(-1)!.last;
    try {
      await deps.store().put(key, Readable.from([Buffer.from(good.slice(0, 20))]));
      const refused = await planPoint(deps, "latest", { toRevision: target }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(hasErrorCode(refused, "no_log_point")).toBe(true);
      expect((refused as Error).message).toContain(`The marker of generation ${gen} (${key}) is damaged`);
      clearTimelineCache();
      const t = await readTimeline(deps, { setId: "latest", segments: 120 });
      expect(t.available).toBe(false);
      expect(t.why).toContain(`(${key}) is damaged`);
    } finally {
      await deps.store().put(key, Readable.from([Buffer.from(good)]));
    }
    // The store answering with an error (not "no such key") is a storage failure, not a generation without a base.
    const store = deps.store();
    const failing: BackupStore = Object.assign(Object.create(store) as BackupStore, {
      get: (k: string) => (k === key ? Promise.reject(new StorageError("the store is down", "unreachable")) : store.get(k)),
    });
    const failed = await listLog(failing).then(
      () => null,
      (e: unknown) => e,
    );
    expect(hasErrorCode(failed, "storage_unreachable")).toBe(true);
    expect((await planPoint(deps, "latest", { toRevision: target })).target).toBe(target);
  }, 60_000);

  it("the log's base set incomplete, or a seed set named: the answer says why no point is offered", async () => {
    const pos = shipper.position();
    const target = (await storedSegments(deps.store())).at(-1)!.last;
    const { sets } = await listStoreSets(deps.store());
    const base = sets.find((s) => s.id === pos.baseSetId)!;
    const db = base.objects.find((o) => o.kind === "lifeboat-logical")!;
    const body: Buffer[] = [];
    for await (const c of await deps.store().get(db.key)) body.push(c as Buffer);
    await deps.store().delete(db.key);
    try {
      const refused = await planPoint(deps, "latest", { toRevision: target }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(hasErrorCode(refused, "no_log_point")).toBe(true);
      expect((refused as Error).message).toContain(`backup set ${base.id}, is incomplete (missing: Logical DB)`);
      clearTimelineCache();
      const t = await readTimeline(deps, { setId: "latest", segments: 120 });
      expect(t.available).toBe(false);
      expect(t.why).toContain(`backup set ${base.id}, is incomplete`);
    } finally {
      await deps.store().put(db.key, Readable.from([Buffer.concat(body)]));
    }
    // A set of the seed CronJob has no manifest with its revision: never a base, and the answer says why.
    const seedKey = "state_2026-01-01_00-00-00.db.gpg";
    await deps.store().put(seedKey, Readable.from([Buffer.from("not read")]));
    try {
      const seed = await planPoint(deps, "seed-2026-01-01_00-00-00", { toRevision: target }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(hasErrorCode(seed, "no_log_point")).toBe(true);
      expect((seed as Error).message).toContain("was made by the seed CronJob");
    } finally {
      await deps.store().delete(seedKey);
    }
    // A revision below the base is another matter: a later point is the answer.
    const below = await planPoint(deps, "latest", { toRevision: Math.max(0, pos.baseRevision! - 1) }).then(
      () => null,
      (e: unknown) => e,
    );
    expect((below as Error).message).toMatch(/is at or below revision \d+: choose a later point/);
  }, 60_000);

  it("the database replaced under the agent: a new generation from a new base, never mixed with the old", async () => {
    const old = shipper.position().generation!;
    await shipper.stop();
    await writer!.stop();
    writer = null;
    const other = makeTestServer(path.join(work, "other"), { seed: 77, marker: "marker-OTHER" });
    replaceDatabase(server.dbPath, other.dbPath);
    shipper = new LogShipper(deps, { intervalMs: 250, baseAtFirstStart: true });
    await shipper.tick();
    const pos = shipper.position();
    expect(pos.generation).not.toBe(old);
    expect(pos.generationReason).toMatch(/replaced|another one|gone|went back/);
    const marker = GenerationMarker.parse(JSON.parse(await readStoreText(deps.store(), generationKey(pos.generation!))));
    expect(marker.reason).toBe(pos.generationReason);
    expect(marker.baseSetId).toMatch(/^lifeboat-/);
    writer = await spawnKineWriter({ db: server.dbPath, intervalMs: 40, compactEveryMs: 0, seed: 77 });
    // The new generation's base backup comes first: on a busy machine that can take a while.
    const ofNewGen = async () => (await storedSegments(deps.store())).filter((s) => s.generation === pos.generation);
    await waitFor(
      async () => {
        await shipper.tick();
        return (await ofNewGen()).length > 0 ? true : undefined;
      },
      60_000,
      "the new generation's first segment",
    );
    const p = await takePoint("new-gen");
    const segs = (await storedSegments(deps.store())).filter((s) => s.generation === pos.generation);
    expect(segs.length).toBeGreaterThan(0);
    expect(logProblems(segs, pos.baseRevision)).toEqual([]);
    const { plan, staged } = await restoreTo(p.revision, "new-gen");
    expect(plan.generation).toBe(pos.generation);
    expect(plan.baseSetId).toBe(marker.baseSetId);
    const cmp = restoredAndLive(staged.dbPath, p.copy);
    expect(cmp.got.rows).toEqual(cmp.want.rows);
  }, 240_000);

  it("a set a backup of its own process left long ago (kine compacted past it): not taken, the log goes on waiting for the next set", async () => {
    const stateDir = path.join(work, "state-offered");
    const late = new LogShipper({ ...deps, config: { ...deps.config, stateDir } }, { intervalMs: 250 });
    try {
      offerBase(stateDir, { setId: "lifeboat-2026-01-01_00-00-00", revision: 1 });
      await late.tick();
      expect(late.position().generation).toBeFalsy();
      expect(late.status().problem).toMatch(/first backup set/);
      expect(existsSync(continuousDir(stateDir).baseOffer)).toBe(false);
    } finally {
      await late.stop();
    }
  });
});
