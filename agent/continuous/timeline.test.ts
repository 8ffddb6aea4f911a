import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import pino from "pino";
import { startEmbeddedS3, type EmbeddedS3 } from "../../lib/storage/embedded-s3";
import { LogTimeline, type TimelineChange } from "../../lib/contracts/continuous";
import { hasErrorCode } from "../../lib/contracts/errors";
import { makeDeps } from "../deps";
import type { AgentDeps } from "../module";
import { buildAgentApp, type AgentApp } from "../server";
import { openKineDb, KINE_INSERT_SQL } from "../kine/schema";
import { spawnKineWriter, type RunningKineWriter } from "../testing/kine-writer-process";
import { makeTestServer, waitFor, type TestServer } from "../testing/restore-fixtures";
import { logTestConfig, storedSegments, withShippedWhilePaused } from "../testing/continuous-fixtures";
import { LogShipper } from "./shipper";
import { clearTimelineCache, readTimeline } from "./timeline";

/**
 * The timeline against real parts: the kine-like writer process, the real shipper and base backup,
 * s3rver on loopback. A Deployment is created, changed and deleted beside the writer's churn; the
 * timeline, read from the segments (through the agent's route), lists it at its revisions, and a
 * missing or damaged segment is a gap with its revisions, not a failure.
 */

const PASS = "timeline test passphrase";
const TOKEN = "timeline-test-agent-token-0123456789abcdef";
let work: string;
let s3: EmbeddedS3;
let server: TestServer;
let writer: RunningKineWriter;
let deps: AgentDeps;
let shipper: LogShipper;
let app: AgentApp;
let url: string;
const web = { created: 0, updated: 0, deleted: 0 };

function config(prefix: string, passphraseFile = "passphrase") {
  return logTestConfig(work, server.serverDir, s3, prefix, { LIFEBOAT_PASSPHRASE_FILE: path.join(work, passphraseFile), LIFEBOAT_AGENT_TOKEN: TOKEN });
}

/** kine's own INSERT, beside the writer (its busy_timeout waits for the writer's lock): returns the revision. */
function kinePut(name: string, value: string | null, opts: { prev: number; created: boolean; deleted: boolean; createRevision: number }): number {
  const db = openKineDb(server.dbPath);
  try {
    const info = db
      .prepare(KINE_INSERT_SQL)
      .run(name, opts.created ? 1 : 0, opts.deleted ? 1 : 0, opts.createRevision, opts.prev, 0, value === null ? null : Buffer.from(value), opts.prev);
    return Number(info.lastInsertRowid);
  } finally {
    db.close();
  }
}

/** Pauses the writer and lets the shipper upload everything read so far. */
async function shipAll(): Promise<void> {
  await withShippedWhilePaused(writer, shipper, async () => {});
}

async function timelineOverHttp(query = ""): Promise<LogTimeline> {
  const res = await fetch(`${url}/continuous/timeline${query}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return LogTimeline.parse(await res.json());
}

const changesOf = (t: LogTimeline): TimelineChange[] => t.points.flatMap((p) => p.changes);

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-timeline-"));
  writeFileSync(path.join(work, "passphrase"), PASS + "\n");
  s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["backups"] });
  server = makeTestServer(path.join(work, "k3s"), { seed: 17, marker: "marker-TIMELINE" });
  writer = await spawnKineWriter({ db: server.dbPath, intervalMs: 150, compactEveryMs: 1000, seed: 17 });
  deps = makeDeps(config("log"), { logDestination: pino.destination("/dev/null") });
  shipper = new LogShipper(deps, { intervalMs: 300, baseAtFirstStart: true });
  app = buildAgentApp(deps);
  url = (await app.listen(0, "127.0.0.1")).url;
}, 60_000);

afterAll(async () => {
  await shipper?.stop();
  await app?.close();
  if (writer) {
    writer.process.kill("SIGCONT");
    await writer.stop().catch(() => {});
  }
  await s3?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the timeline (real writer, shipper, s3rver)", () => {
  it("says why there is no point in time when the store holds no log", async () => {
    const bare = makeDeps(config("empty"), { logDestination: pino.destination("/dev/null") });
    const t = await readTimeline(bare, { setId: "latest", segments: 10 }, "Continuous protection is off (LIFEBOAT_LOG_INTERVAL_SECONDS=0).");
    expect(t.available).toBe(false);
    expect(t.why).toMatch(/holds no continuous-protection log.*LIFEBOAT_LOG_INTERVAL_SECONDS=0/);
    expect(t.points).toEqual([]);
  });

  it("lists the points after the base, and a deleted Deployment as a deletion at its revision (names only)", async () => {
    shipper.start();
    await waitFor(() => (shipper.status().segments > 0 ? true : undefined), 60_000, "a first segment");
    const secret = "s3cr3t-VALUE-never-in-the-timeline";
    web.created = kinePut("/registry/deployments/default/web", `{"kind":"Deployment","spec":{"replicas":1},"env":"${secret}"}`, {
      prev: 0,
      created: true,
      deleted: false,
      createRevision: 0,
    });
    await shipAll();
    web.updated = kinePut("/registry/deployments/default/web", `{"kind":"Deployment","spec":{"replicas":3}}`, {
      prev: web.created,
      created: false,
      deleted: false,
      createRevision: web.created,
    });
    await shipAll();
    web.deleted = kinePut("/registry/deployments/default/web", null, { prev: web.updated, created: false, deleted: true, createRevision: web.created });
    await shipAll();

    // Read with the writer paused and everything shipped, so the log's end stays where the shipper put it.
    const [t, uploaded] = await withShippedWhilePaused(
      writer,
      shipper,
      async () => [await timelineOverHttp("?setId=latest"), shipper.position().uploadedRevision] as const,
    );
    expect(t.available).toBe(true);
    expect(t.generation).toBe(shipper.position().generation);
    expect(t.baseRevision).toBe(shipper.position().baseRevision);
    expect(t.gaps).toEqual([]);
    expect(t.segmentsRead).toBe(t.segmentsTotal);
    expect(t.logEnd).toBe(uploaded);
    expect(t.newestReachable?.revision).toBe(t.logEnd);
    // Points are the segments, in order, each reachable, with their read times.
    expect(t.points.length).toBeGreaterThanOrEqual(3);
    expect(t.points.map((p) => p.first)).toEqual([...t.points.map((p) => p.first)].sort((a, b) => a - b));
    expect(t.points.every((p) => p.state === "read" && p.reachable && !Number.isNaN(Date.parse(p.readAt)))).toBe(true);
    const mine = changesOf(t).filter((c) => c.kind === "deployments" && c.namespace === "default" && c.name === "web");
    expect(mine).toEqual([
      { revision: web.created, change: "created", kind: "deployments", namespace: "default", name: "web" },
      { revision: web.updated, change: "updated", kind: "deployments", namespace: "default", name: "web" },
      { revision: web.deleted, change: "deleted", kind: "deployments", namespace: "default", name: "web" },
    ]);
    // Each change sits in the point whose revisions hold it.
    const at = t.points.find((p) => p.first <= web.deleted && web.deleted <= p.last)!;
    expect(at.changes.some((c) => c.revision === web.deleted && c.change === "deleted")).toBe(true);
    // The writer's lease renewals are counted, not listed; no value ever leaves the agent.
    expect(t.points.reduce((n, p) => n + p.churn, 0)).toBeGreaterThan(0);
    expect(changesOf(t).some((c) => c.kind === "leases" || c.kind === "events")).toBe(false);
    expect(JSON.stringify(t)).not.toContain(secret);
    expect(JSON.stringify(t)).not.toContain("replicas");
  }, 180_000);

  it("reads only the newest segments asked for, and says where it stopped", async () => {
    const t = await timelineOverHttp("?setId=latest&segments=2");
    expect(t.segmentsRead).toBe(2);
    expect(t.points).toHaveLength(2);
    expect(t.segmentsTotal).toBeGreaterThan(2);
    expect(t.stopped).toMatch(/Read the newest 2 of \d+ segments/);
  });

  it("a passphrase that opens no segment is an error (wrong_passphrase), not a log lost", async () => {
    writeFileSync(path.join(work, "other-passphrase"), "not the passphrase\n");
    clearTimelineCache(); // as a new agent process would read the store
    const other = makeDeps(config("log", "other-passphrase"), { logDestination: pino.destination("/dev/null") });
    const err = await readTimeline(other, { setId: "latest", segments: 3 }).catch((e: unknown) => e);
    expect(hasErrorCode(err, "wrong_passphrase")).toBe(true);
  });

  it("a missing segment and a damaged one are gaps with the revisions lost; the points after them are not reachable", async () => {
    await shipper.stop();
    const segs = (await storedSegments(deps.store())).filter((s) => s.generation === shipper.position().generation);
    expect(segs.length).toBeGreaterThanOrEqual(4);
    const damagedSeg = segs[segs.length - 2];
    const missingSeg = segs[segs.length - 3];
    await deps.store().put(damagedSeg.key, Readable.from([Buffer.from("-----BEGIN PGP MESSAGE-----\nnot a segment\n")]));
    await deps.store().delete(missingSeg.key);
    // The same agent, whose cache holds every segment as it was: the replaced one is read again.
    const t = await timelineOverHttp("?setId=latest&segments=500");
    expect(t.available).toBe(true);
    expect(t.gaps).toEqual([
      { lostFrom: missingSeg.first, lostTo: missingSeg.last, segment: null, why: expect.stringMatching(/one is missing/) },
      { lostFrom: damagedSeg.first, lostTo: damagedSeg.last, segment: damagedSeg.key, why: expect.stringMatching(/could not be read|damaged/) },
    ]);
    expect(t.newestReachable?.revision).toBe(missingSeg.first - 1);
    expect(t.points.find((p) => p.segment === damagedSeg.key)).toMatchObject({ state: "damaged", reachable: false, changes: [] });
    expect(t.points.filter((p) => p.last < missingSeg.first).every((p) => p.reachable)).toBe(true);
    expect(t.points.filter((p) => p.first > missingSeg.last).every((p) => !p.reachable)).toBe(true);
  }, 60_000);
});
