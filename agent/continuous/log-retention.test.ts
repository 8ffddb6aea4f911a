import { describe, it, expect, beforeAll, afterAll } from "vitest";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { EmbeddedS3 } from "../../lib/storage/embedded-s3";
import { listAll, type BackupStore } from "../../lib/storage/backup-store";
import { StorageError } from "../../lib/storage/errors";
import { hasErrorCode } from "../../lib/contracts/errors";
import { generationKey } from "../../lib/contracts/continuous";
import type { RetentionPolicy } from "../../lib/contracts/agent-backup";
import type { AgentDeps } from "../module";
import { startBackupJob } from "../backup/run-backup";
import { runRetention } from "../backup/retention-run";
import { spawnKineWriter, type RunningKineWriter } from "../testing/kine-writer-process";
import { makeTestServer, waitFor, type TestServer } from "../testing/restore-fixtures";
import {
  startLogTest,
  stopLogTest,
  dumpKine,
  logProblems,
  replaceDatabase,
  restoreToPoint,
  storedLogKeys,
  storedSegments,
  takeLogPoint,
  type LogPoint,
  restoredAndLive,
} from "../testing/continuous-fixtures";
import { LogShipper } from "./shipper";
import { retentionCommand } from "../commands/retention";

/**
 * Retention of the log against real parts: the kine-like writer, s3rver, the real backup job for
 * every base, the real shipper, and the restore's own stager. The store holds two generations (the
 * database replaced in between), A with three bases and B with two; retention with keepLast 3 keeps
 * B's two and A's newest, so A is trimmed to what its newest base needs; with keepLast 2, A goes whole.
 */

const PASS = "log retention test passphrase";
const keep = (keepLast: number): RetentionPolicy => ({ keepLast, keepDaily: 0, keepWeekly: 0, keepMonthly: 0 });
let work: string;
let s3: EmbeddedS3;
let server: TestServer;
let writer: RunningKineWriter | null = null;
let deps: AgentDeps;
let shipper: LogShipper;
const bases: { gen: string; setId: string; revision: number }[] = [];
let genA: string;
let genB: string;
let pointA: LogPoint; // in A, after A's newest base
let pointB: LogPoint; // in B

function point(name: string): Promise<LogPoint> {
  return takeLogPoint(writer!, shipper, server.dbPath, path.join(work, `point-${name}.db`));
}

/** A backup set of the running generation (the nightly job), then more log after it. */
async function baseNow(): Promise<void> {
  await sleep(1100); // set ids carry the second: two bases never share one
  const job = await startBackupJob(deps, { retention: false, allowNewPassphrase: false }, "schedule").done;
  expect(job.state).toBe("succeeded");
  const r = job.result as { setId: string; manifest: { database: { currentRevision: number } } };
  bases.push({ gen: shipper.position().generation!, setId: r.setId, revision: r.manifest.database.currentRevision });
  await shipUntilPast(r.manifest.database.currentRevision + 40);
}

async function shipUntilPast(revision: number): Promise<void> {
  await waitFor(
    async () => {
      await shipper.tick();
      return shipper.position().uploadedRevision > revision ? true : undefined;
    },
    60_000,
    `the log past revision ${revision}`,
  );
}

/** The store with every call passed through, except listings under `failPrefix` ("" = the whole store), which fail. */
function failingListing(store: BackupStore, failPrefix: string): BackupStore {
  return {
    description: store.description,
    list: (o) => ((o?.prefix ?? "") === failPrefix ? Promise.reject(new StorageError("the listing failed (test)")) : store.list(o)),
    head: (k) => store.head(k),
    get: (k) => store.get(k),
    put: (k, b, o) => store.put(k, b, o),
    delete: (k) => store.delete(k),
  };
}

async function allKeys(store: BackupStore): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of listAll(store)) keys.push(o.key);
  return keys.sort();
}

beforeAll(async () => {
  ({ work, s3, server, writer, deps } = await startLogTest({
    passphrase: PASS,
    prefix: "ret",
    seed: 61,
    marker: "marker-RET",
    intervalMs: 40,
    compactEveryMs: 700,
  }));

  // Generation A: its first base (at first start), then two more bases with log between them.
  shipper = new LogShipper(deps, { intervalMs: 250, baseAtFirstStart: true });
  await shipper.tick();
  genA = shipper.position().generation!;
  bases.push({ gen: genA, setId: shipper.position().baseSetId!, revision: shipper.position().baseRevision });
  await shipUntilPast(shipper.position().baseRevision + 40);
  await baseNow();
  await baseNow();
  pointA = await point("A");
  // The database replaced: generation B from its own base, then one more base.
  await writer.stop();
  writer = null;
  const other = makeTestServer(path.join(work, "other"), { seed: 62, marker: "marker-RET-B" });
  replaceDatabase(server.dbPath, other.dbPath);
  writer = await spawnKineWriter({ db: server.dbPath, intervalMs: 40, compactEveryMs: 700, seed: 62 });
  await shipper.tick();
  genB = shipper.position().generation!;
  expect(genB).not.toBe(genA);
  bases.push({ gen: genB, setId: shipper.position().baseSetId!, revision: shipper.position().baseRevision });
  await shipUntilPast(shipper.position().baseRevision + 40);
  await baseNow();
  pointB = await point("B");
}, 240_000);

afterAll(() => stopLogTest({ shipper, writer, s3, work }));

describe("retention of the log (real shipper, writer, s3rver and base backups)", () => {
  it("a listing that fails deletes nothing, whether the log's or the sets'", async () => {
    const before = await allKeys(deps.store());
    for (const prefix of ["lifeboat-log_", ""]) {
      const err = await runRetention(failingListing(deps.store(), prefix), keep(1), { dryRun: false }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(hasErrorCode(err, "storage_other")).toBe(true);
    }
    expect(await allKeys(deps.store())).toEqual(before);
  }, 60_000);

  it("a dry run plans the log's part and deletes nothing", async () => {
    const before = await allKeys(deps.store());
    const report = await runRetention(deps.store(), keep(3), { dryRun: true });
    expect(report.deleted).toEqual([]);
    expect(await allKeys(deps.store())).toEqual(before);
    const [a, b] = report.log!.generations;
    expect(a.generation).toBe(genA);
    expect(a.action).toBe("trim");
    expect(a.segmentsDeleted).toBeGreaterThan(0);
    expect(report.log!.summary.bytesFreed).toBeGreaterThan(0);
    expect(b.action).toBe("keep");
    // The CLI prints the log's part (with the default policy, which keeps every set here).
    const out: string[] = [];
    const code = await retentionCommand.run(["--dry-run"], deps, { out: (l) => out.push(l), err: () => {}, confirm: async () => false });
    expect(code).toBe(0);
    expect(out.filter((l) => /^KEEP +log \d{8}T\d{6}Z /.test(l))).toHaveLength(2);
    expect(out).toContainEqual(expect.stringMatching(/^Log: \d+ segments kept, 0 would delete \(0\.0 MiB\), 0 of 2 generations would delete\.$/));
  }, 60_000);

  it("keeps what every kept base needs, deletes the rest oldest first, and a restore after the oldest kept base still matches row for row", async () => {
    const [, , a2] = bases.filter((x) => x.gen === genA);
    const segsBefore = await storedSegments(deps.store());
    const report = await runRetention(deps.store(), keep(3), { dryRun: false });
    expect(report.failed).toEqual([]);
    expect(report.sets.filter((s) => s.action === "delete").map((s) => s.setId)).toEqual([bases[1].setId, bases[0].setId]);
    const a = report.log!.generations.find((g) => g.generation === genA)!;
    expect(a.keptBases).toEqual([a2.setId]);
    expect(a.oldestKeptBaseRevision).toBe(a2.revision);
    // Exactly the segments of A wholly at or below A's newest base went; B is untouched.
    const planned = segsBefore.filter((s) => s.generation === genA && s.last <= a2.revision).map((s) => s.key);
    expect(planned.length).toBeGreaterThan(0);
    expect(a.keys).toEqual(planned);
    const after = await storedSegments(deps.store());
    expect(after.map((s) => s.key)).toEqual(segsBefore.filter((s) => !planned.includes(s.key)).map((s) => s.key));
    // What A's kept base needs is one unbroken run from its revision on.
    const restA = after.filter((s) => s.generation === genA);
    expect(restA[0].first).toBeLessThanOrEqual(a2.revision + 1);
    expect(logProblems(restA, restA[0].first - 1)).toEqual([]);
    expect(await storedLogKeys(deps.store())).toContain(generationKey(genA));
    // Row for row: a point of A after its kept base, and a point of B.
    const { plan, staged } = await restoreToPoint(deps, a2.setId, { toRevision: pointA.revision }, path.join(work, "staging-A"));
    expect(plan.baseSetId).toBe(a2.setId);
    const cmpA = restoredAndLive(staged.dbPath, pointA.copy);
    expect(cmpA.got.rows).toEqual(cmpA.want.rows);
    const rb = await restoreToPoint(deps, "latest", { toRevision: pointB.revision }, path.join(work, "staging-B"));
    const b = restoredAndLive(rb.staged.dbPath, pointB.copy);
    expect(b.got.rows).toEqual(b.want.rows);
  }, 180_000);

  it("an old generation none of whose bases is kept goes whole, its marker last; the current one stays", async () => {
    const report = await runRetention(deps.store(), keep(2), { dryRun: false });
    expect(report.failed).toEqual([]);
    const a = report.log!.generations.find((g) => g.generation === genA)!;
    expect(a.action).toBe("delete");
    expect(a.keys[a.keys.length - 1]).toMatch(new RegExp(`${generationKey(genA)}$`));
    const keys = await storedLogKeys(deps.store());
    expect(keys.filter((k) => k.includes(genA))).toEqual([]);
    expect(keys).toContain(generationKey(genB));
    expect(report.log!.generations.find((g) => g.generation === genB)!.action).toBe("keep");
    const rb = await restoreToPoint(deps, "latest", { toRevision: pointB.revision }, path.join(work, "staging-B2"));
    expect(dumpKine(rb.staged.dbPath).rows).toEqual(dumpKine(pointB.copy).rows);
  }, 180_000);
});
