import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { startEmbeddedS3, type EmbeddedS3 } from "../storage/embedded-s3";
import { S3BackupStore, listAll } from "../storage";
import { groupObjects } from "../backups/grouping";
import { openDatabase, readAudit, type Db } from "../db/database";
import { AgentClient } from "../agent/agent-client";
import { BackupManifest } from "../contracts/manifest";
import type { BackupResult } from "../contracts/agent-backup";
import type { CatalogSet } from "../contracts/catalog";
import { DomainError } from "../contracts/errors";
import { loadAgentConfig } from "../../agent/config";
import { makeDeps } from "../../agent/deps";
import { buildAgentApp, type AgentApp } from "../../agent/server";
import { addMarker, agentEnvFor, hasMarker, makeTestServer, waitFor, type TestServer } from "../../agent/testing/restore-fixtures";
import { makeAgentTargets } from "./agent-targets";
import { act, activeRun, drillPauseReason, followRun, needsFollowing, startRun, viewRun, type RestoreContext } from "./wizard";
import { freePort } from "../net/ports";
import { KubeClient } from "../kube/kube-client";
import { listNodeSummaries } from "../kube/node-service";
import { startTestKubeApi, type TestKubeApi } from "../kube/testing/test-api-server";
import { restartControlPlane, seedHomelab } from "../kube/simulator/scenarios";
import type { NodesPort, RestoreRun } from "./wizard-core";

/**
 * The wizard's state machine against a real agent (in this process, on loopback) and real backup
 * sets in s3rver: steps refuse actions that do not fit them, the new machine's token stays out of
 * the saved run and is forgotten when the run ends, an agent that goes away is a state (not an
 * error), and a whole restore reaches "After" with the nodes check skipped when no Kubernetes API
 * is configured; against the test Kubernetes API, the After step waits while the nodes are not
 * Ready after the restart and says when they are, or when it gave up. k3s's stop/start are plain
 * `true` here; the browser test drives a fake k3s.
 */

const TOKEN = "wizard-test-agent-token-0123456789";
const KEY = "wiz-key";
const SECRET = "wiz-secret-42";
let work: string;
let s3: EmbeddedS3;
let server: TestServer;
let app: AgentApp;
let agentUrl: string;
let db: Db;
let setId: string;
let agentEnv: Record<string, string>;
const silent = pino({ level: "silent" });
const store = () =>
  new S3BackupStore({ endpoint: s3.endpoint, bucket: "backups", prefix: "k3s", accessKeyId: KEY, secretAccessKey: SECRET, region: "us-east-1" });

async function catalogSets(): Promise<CatalogSet[]> {
  const objects = [];
  for await (const o of listAll(store())) objects.push({ key: o.key, size: o.size, lastModified: o.lastModified.toISOString() });
  return groupObjects(objects)
    .sets.map((s) => ({
      id: s.id,
      format: s.format,
      timestamp: s.time.toISOString(),
      objects: s.objects,
      missing: s.missing,
      anomalies: [],
      verification: undefined,
    }))
    .sort((a, b) => b.timestamp.localeCompare(a.timestamp));
}

function context(sets: CatalogSet[], opts: { configured?: string | null } = {}): RestoreContext {
  const configured = opts.configured === undefined ? agentUrl : opts.configured;
  return {
    db,
    targets: makeAgentTargets(db, () => (configured ? new AgentClient({ baseUrl: configured, token: TOKEN }) : null)),
    catalog: {
      sets: () => sets,
      findSet: (id) => sets.find((s) => s.id === id) ?? null,
      manifest: async (set) => {
        const key = set.objects.find((o) => o.kind === "manifest")?.key;
        if (!key) return { state: "absent" };
        const chunks: Buffer[] = [];
        for await (const c of await store().get(key)) chunks.push(c as Buffer);
        return { state: "ok", manifest: BackupManifest.parse(JSON.parse(Buffer.concat(chunks).toString("utf8"))) };
      },
    },
    drill: () => null,
    nodes: { configured: () => false, list: async () => [] },
    log: silent,
  };
}

const expectDomainError = async (p: Promise<unknown>, status: number, code: string) => {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DomainError);
  expect({ status: (err as DomainError).status, code: (err as DomainError).code }).toEqual({ status, code });
  return err as DomainError;
};

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-wizard-"));
  s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["backups"], accessKeyId: KEY, secretAccessKey: SECRET });
  const pass = path.join(work, "passphrase");
  writeFileSync(pass, "wizard passphrase\n", { mode: 0o400 });
  server = makeTestServer(path.join(work, "srv"), { seed: 51, marker: "marker-W1" });
  const env = {
    ...agentEnvFor(server),
    LIFEBOAT_K3S_STOP_CMD: "true",
    LIFEBOAT_K3S_START_CMD: "true",
    LIFEBOAT_K3S_STATUS_CMD: "echo active",
    LIFEBOAT_OWNER: `${process.getuid!()}:${process.getgid!()}`,
    AWS_S3_ENDPOINT: s3.endpoint,
    AWS_S3_BUCKET: "backups",
    AWS_S3_PATH: "k3s",
    AWS_ACCESS_KEY_ID: KEY,
    AWS_SECRET_ACCESS_KEY: SECRET,
    LIFEBOAT_PASSPHRASE_FILE: pass,
    LIFEBOAT_AGENT_TOKEN: TOKEN,
  };
  agentEnv = env;
  app = buildAgentApp(makeDeps(loadAgentConfig(env), { logDestination: pino.destination("/dev/null") }));
  agentUrl = (await app.listen(0, "127.0.0.1")).url;
  const { startBackupJob } = await import("../../agent/backup/run-backup");
  const job = await startBackupJob(app.deps, { retention: false, allowNewPassphrase: true }, "cli").done;
  expect(job.state, job.error ?? "").toBe("succeeded");
  setId = (job.result as BackupResult).setId;
  addMarker(server.dbPath, "marker-W2"); // only in the live database
  db = openDatabase(path.join(work, "dashboard"));
}, 120_000);

afterAll(async () => {
  await app?.close();
  db?.close();
  await s3?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** A new run on the configured agent with the set staged and verified, at the confirmation step. */
async function verifiedRun(ctx: RestoreContext): Promise<RestoreRun> {
  let run = startRun(ctx);
  run = await act(ctx, run.id, { action: "check-target", target: { kind: "configured" } });
  run = await act(ctx, run.id, { action: "accept-target" });
  run = await act(ctx, run.id, { action: "choose", candidate: { kind: "backup", setId } });
  run = await act(ctx, run.id, { action: "stage" });
  await waitFor(async () => ((await followRun(ctx, run.id)).state.record?.status === "awaiting-confirmation" ? true : undefined), 60_000, "staging");
  return act(ctx, run.id, { action: "verified" });
}

describe("the master-restore wizard", () => {
  it("keeps a new machine's token out of the run, refuses actions off their step, and forgets the token when the run ends", async () => {
    const ctx = context(await catalogSets());
    const run = startRun(ctx);
    await expectDomainError(
      Promise.resolve().then(() => startRun(ctx)),
      409,
      "restore_active",
    );
    await expectDomainError(act(ctx, run.id, { action: "stage" }), 409, "wrong_step");
    await expectDomainError(act(ctx, run.id, { action: "accept-target" }), 409, "no_health");

    const checked = await act(ctx, run.id, { action: "check-target", target: { kind: "new", url: `${agentUrl}/`, token: TOKEN } });
    expect(checked.state.target).toMatchObject({ kind: "new", url: agentUrl });
    expect(checked.state.health?.verdict).toBeDefined();
    expect(checked.state.agentProblem).toBeNull();
    const saved = db.prepare("SELECT state FROM wizard_runs WHERE id = ?").pluck().get(run.id) as string;
    expect(saved).not.toContain(TOKEN);
    expect(JSON.stringify(await viewRun(ctx, checked))).not.toContain(TOKEN);
    expect(JSON.stringify(readAudit(db))).not.toContain(TOKEN);
    expect(db.prepare("SELECT COUNT(*) FROM restore_agent_targets WHERE token = ?").pluck().get(TOKEN)).toBe(1);

    const left = await act(ctx, run.id, { action: "abandon" });
    expect(left.status).toBe("abandoned");
    expect(db.prepare("SELECT COUNT(*) FROM restore_agent_targets").pluck().get()).toBe(0);
    expect(activeRun(ctx)).toBeUndefined();
  });

  it("an unreachable agent in step 1 is a state with the URL and what to check, not an error", async () => {
    // A port that was free a moment ago: nothing listens there.
    const port = await freePort();
    const down = `http://127.0.0.1:${port}`;
    const ctx = context(await catalogSets(), { configured: down });
    const run = startRun(ctx);
    const checked = await act(ctx, run.id, { action: "check-target", target: { kind: "configured" } });
    expect(checked.state.health).toBeNull();
    expect(checked.state.agentProblem).toMatchObject({ url: down, code: "agent_unreachable" });
    expect(checked.state.agentProblem?.message).toBe(`Cannot reach the agent at ${down}: connection refused (is the agent running?).`);
    expect(checked.state.agentProblem?.hint).toMatch(/lifeboat-agent serve/);
    expect(readAudit(db, { actionPrefix: "restore.target" })[0]).toMatchObject({ target: down, outcome: "unreachable" });
    await act(ctx, run.id, { action: "abandon" });
  });

  it("walks a restore to After (drills paused meanwhile); the nodes check says the API is not configured; done keeps it", async () => {
    const sets = await catalogSets();
    const ctx = context(sets);
    let run = startRun(ctx);
    run = await act(ctx, run.id, { action: "check-target", target: { kind: "configured" } });
    expect(run.state.hostHint).toBe(hostname()); // the agent reports its host name
    expect(run.state.hostHintSource).toBe("the agent");
    run = await act(ctx, run.id, { action: "accept-target" });
    expect(drillPauseReason(ctx)).toBeNull();
    run = await act(ctx, run.id, { action: "choose", candidate: { kind: "backup", setId } });
    expect(run.step).toBe("preview");
    expect(run.state.proposal?.setId).toBe(setId);
    expect(drillPauseReason(ctx)).toMatch(/restore drills wait/);
    const view = await viewRun(ctx, run);
    expect(view.preview?.stats?.from).toBe("manifest");
    run = await act(ctx, run.id, { action: "stage" });
    expect(run.step).toBe("stage");
    run = await waitFor(
      async () => {
        const r = await followRun(ctx, run.id);
        return r.state.record && r.state.record.status !== "running" ? r : undefined;
      },
      60_000,
      "staging",
    );
    expect(run.state.record?.status, run.state.record?.error ?? "").toBe("awaiting-confirmation");
    expect(run.state.record?.diff?.summary).toMatch(/loses \d+ objects?/);
    await expectDomainError(act(ctx, run.id, { action: "confirm", host: hostname() }), 409, "wrong_step");
    run = await act(ctx, run.id, { action: "verified" });
    const refused = await expectDomainError(act(ctx, run.id, { action: "confirm", host: "some-other-node" }), 409, "restore_state");
    expect(refused.message).toContain(`This agent runs on "${hostname()}", not "some-other-node"`);
    run = await act(ctx, run.id, { action: "confirm", host: hostname() });
    expect(run.step).toBe("restore");
    run = await waitFor(
      async () => {
        const r = await followRun(ctx, run.id);
        return r.step === "after" && r.state.nodes ? r : undefined;
      },
      60_000,
      "the restore",
    );
    expect(run.state.record?.status).toBe("succeeded");
    expect(run.state.nodes).toMatchObject({ state: "not-configured" });
    expect(run.state.nodes?.message).toMatch(/No Kubernetes API is configured/);
    expect(hasMarker(server.dbPath, "marker-W1")).toBe(true);
    expect(hasMarker(server.dbPath, "marker-W2")).toBe(false);
    run = await act(ctx, run.id, { action: "done" });
    expect(run.status).toBe("done");
    expect(run.state.outcome).toBe("restored");
    expect(run.state.record?.done).toBe(true);
    await expectDomainError(act(ctx, run.id, { action: "rollback" }), 409, "restore_closed");
    const actions = readAudit(db, { actionPrefix: "restore." }).map((e) => `${e.action}:${e.outcome}`);
    expect(actions).toEqual(
      expect.arrayContaining([
        "restore.stage:started",
        "restore.verified:ok",
        "restore.confirm:refused",
        "restore.confirm:ok",
        "restore.restore:succeeded",
        "restore.done:restored",
      ]),
    );
  });

  it("a restore that fails after the swap (k3s does not start) shows the target's state and offers rollback, which puts the previous database back", async () => {
    // k3s refuses to start once (the restore's start), then starts (the rollback's).
    const flag = path.join(work, "k3s-failed-once");
    const second = buildAgentApp(
      makeDeps(loadAgentConfig({ ...agentEnv, LIFEBOAT_K3S_START_CMD: `[ -e ${flag} ] || { touch ${flag}; echo 'k3s: failed to start' >&2; exit 1; }` }), {
        logDestination: pino.destination("/dev/null"),
      }),
    );
    const url = (await second.listen(0, "127.0.0.1")).url;
    try {
      addMarker(server.dbPath, "marker-W3"); // only in the database before this restore
      const ctx = context(await catalogSets(), { configured: url });
      let run = await verifiedRun(ctx);
      run = await act(ctx, run.id, { action: "confirm", host: hostname() });
      run = await waitFor(
        async () => {
          const r = await followRun(ctx, run.id);
          return r.state.record?.status === "failed" ? r : undefined;
        },
        60_000,
        "the failed restore",
      );
      expect(run.step).toBe("restore");
      const rec = run.state.record!;
      expect(rec.error).toMatch(/The restored database is in place, but the start command .* failed \(exit 1: k3s: failed to start\)/);
      expect(rec.targetState).toMatch(/restored database is in place, but the restore did not finish/);
      expect(rec.canRollback).toBe(true);
      expect(rec.canConfirm).toBe(false);
      expect(hasMarker(server.dbPath, "marker-W3")).toBe(false);
      await expectDomainError(act(ctx, run.id, { action: "retry" }), 409, "cannot_retry");
      run = await act(ctx, run.id, { action: "rollback" });
      expect(run.step).toBe("after");
      run = await waitFor(
        async () => {
          const r = await followRun(ctx, run.id);
          return r.state.record?.status === "rolled-back" ? r : undefined;
        },
        60_000,
        "the rollback",
      );
      expect(hasMarker(server.dbPath, "marker-W3")).toBe(true);
      expect(run.state.record?.after?.quickCheck.ok).toBe(true);
      run = await act(ctx, run.id, { action: "done" });
      expect(run.state.outcome).toBe("rolled-back");
      expect(readAudit(db, { actionPrefix: "restore.rollback" }).map((e) => e.outcome)).toEqual(expect.arrayContaining(["started", "succeeded"]));
    } finally {
      await second.close();
    }
  });
});

describe("the After step against the test Kubernetes API", () => {
  let kube: TestKubeApi;
  beforeAll(async () => {
    kube = await startTestKubeApi();
    seedHomelab(kube.cluster);
  });
  afterAll(() => kube?.stop());

  /** The dashboard's nodes port (lib/restore/index.ts), on the test API's kubeconfig. */
  const nodesPort = (): NodesPort => {
    const client = KubeClient.fromKubeconfig(kube.kubeconfigPath, { timeoutMs: 3000 });
    return {
      configured: () => true,
      list: async () => (await listNodeSummaries(client)).map((n) => ({ name: n.name, ready: n.ready, controlPlane: n.controlPlane })),
    };
  };

  /** A whole restore of the set, up to the After step. */
  async function restoreToAfter(ctx: RestoreContext): Promise<RestoreRun> {
    let run = await verifiedRun(ctx);
    // k3s restarts on the restored datastore: the nodes are Unknown until their kubelets post again.
    restartControlPlane(kube.cluster, { readyAfterMs: null });
    run = await act(ctx, run.id, { action: "confirm", host: hostname() });
    return waitFor(
      async () => {
        const r = await followRun(ctx, run.id);
        return r.step === "after" && r.state.nodes ? r : undefined;
      },
      60_000,
      "the restore",
    );
  }
  const nodesNow = (ctx: RestoreContext, id: string, want: string, ms = 30_000) =>
    waitFor(
      async () => {
        const r = await followRun(ctx, id);
        return r.state.nodes?.state === want && r.state.nodes.checkedAt ? r : undefined;
      },
      ms,
      `the nodes check to say ${want}`,
    );

  it("waits while the nodes are not Ready, follows them coming back one by one, and says when all are", async () => {
    const ctx: RestoreContext = { ...context(await catalogSets()), nodes: nodesPort(), nodesTimeoutMs: 120_000 };
    let run = await restoreToAfter(ctx);
    expect(run.state.record?.status).toBe("succeeded");
    expect(run.state.nodes).toMatchObject({ state: "waiting", message: "Waiting for pi-1, pi-2, pi-3 to be Ready." });
    expect(run.state.nodes!.nodes.map((n) => `${n.name}:${n.ready}`)).toEqual(["pi-1:Unknown", "pi-2:Unknown", "pi-3:Unknown"]);
    kube.cluster.setNodeReady("pi-1", true);
    run = await waitFor(
      async () => {
        const r = await followRun(ctx, run.id);
        return r.state.nodes?.message === "Waiting for pi-2, pi-3 to be Ready." ? r : undefined;
      },
      30_000,
      "pi-1 back",
    );
    expect(run.state.nodes!.state).toBe("waiting");
    // pi-2's kubelet is back but reports NotReady (its network plugin not up yet): still waiting.
    kube.cluster.setNodeReady("pi-2", false);
    run = await waitFor(
      async () => {
        const r = await followRun(ctx, run.id);
        return r.state.nodes?.nodes.some((n) => n.name === "pi-2" && n.ready === "NotReady") ? r : undefined;
      },
      30_000,
      "pi-2 NotReady",
    );
    expect(run.state.nodes).toMatchObject({ state: "waiting", message: "Waiting for pi-2, pi-3 to be Ready." });
    kube.cluster.setNodeReady("pi-2", true);
    kube.cluster.setNodeReady("pi-3", true);
    run = await nodesNow(ctx, run.id, "ready");
    expect(run.state.nodes!.message).toBe("All 3 nodes are Ready.");
    expect(readAudit(db, { actionPrefix: "restore.nodes" })[0]).toMatchObject({ outcome: "ready" });
    run = await act(ctx, run.id, { action: "done" });
    expect(run.state.outcome).toBe("restored");
  });

  it("gives up after its timeout naming the nodes that did not come back; Check again waits once more", async () => {
    const ctx: RestoreContext = { ...context(await catalogSets()), nodes: nodesPort(), nodesTimeoutMs: 5_000 };
    let run = await restoreToAfter(ctx);
    run = await nodesNow(ctx, run.id, "timed-out");
    expect(run.state.nodes!.message).toBe(
      `Not every node came back Ready within 5 s: pi-1 is Unknown, pi-2 is Unknown, pi-3 is Unknown. Look at k3s's log on the server and k3s-agent's on the workers (journalctl -u k3s -u k3s-agent); "Check again" waits once more.`,
    );
    expect(readAudit(db, { actionPrefix: "restore.nodes" })[0]).toMatchObject({ outcome: "timed-out" });
    // Timed out is final for polling; the nodes come back; "Check again" starts a new wait and sees them.
    for (const n of ["pi-1", "pi-2", "pi-3"]) kube.cluster.setNodeReady(n, true);
    expect((await followRun(ctx, run.id)).state.nodes!.state).toBe("timed-out");
    run = await act(ctx, run.id, { action: "recheck" });
    run = await nodesNow(ctx, run.id, "ready");
    expect(run.state.nodes!.message).toBe("All 3 nodes are Ready.");
    await act(ctx, run.id, { action: "done" });
  });
});

describe("a point in time in the wizard", () => {
  it("choose takes latest only with a point, and one of revision or time; the point goes to the agent's restore as toRevision", async () => {
    const ctx = context(await catalogSets());
    let run = startRun(ctx);
    run = await act(ctx, run.id, { action: "check-target", target: { kind: "configured" } });
    run = await act(ctx, run.id, { action: "accept-target" });
    await expectDomainError(act(ctx, run.id, { action: "choose", candidate: { kind: "backup", setId: "latest" } }), 404, "no_such_set");
    await expectDomainError(
      act(ctx, run.id, { action: "choose", candidate: { kind: "backup", setId: "latest", toRevision: 5, toTime: "2026-12-03T14:32:10Z" } }),
      400,
      "bad_request",
    );
    const label = "just before deployments/default/web was deleted";
    run = await act(ctx, run.id, { action: "choose", candidate: { kind: "backup", setId: "latest", toRevision: 5, pointLabel: label } });
    expect(run.step).toBe("preview");
    expect(run.state.events.at(-1)?.message).toContain(`latest at revision 5 (${label})`);
    run = await act(ctx, run.id, { action: "stage" });
    // This store has no log: the agent was asked for revision 5 and says why it cannot.
    const failed = await waitFor(
      async () => {
        const r = await followRun(ctx, run.id);
        return r.state.record?.status === "failed" ? r : undefined;
      },
      60_000,
      "staging to stop",
    );
    expect(failed.state.record?.point).toMatchObject({ toRevision: 5, toTime: null });
    expect(failed.state.record?.error).toMatch(/no continuous-protection log/);
    await act(ctx, run.id, { action: "abandon" });
  }, 90_000);
});

describe("two tabs on one run", () => {
  it("a confirmation names the staged restore it reviewed: one staged again by another tab since is refused, not restored", async () => {
    const ctx = context(await catalogSets());
    let run = await verifiedRun(ctx);
    const reviewed = run.state.restoreId!;
    // Another tab goes back, stages again and reviews the new staging: the first tab still shows the old one.
    run = await act(ctx, run.id, { action: "back", to: "preview" });
    run = await act(ctx, run.id, { action: "stage" });
    await waitFor(async () => ((await followRun(ctx, run.id)).state.record?.status === "awaiting-confirmation" ? true : undefined), 60_000, "staging");
    run = await act(ctx, run.id, { action: "verified" });
    expect(run.state.restoreId).not.toBe(reviewed);
    const refused = await expectDomainError(act(ctx, run.id, { action: "confirm", host: hostname(), restoreId: reviewed }), 409, "wrong_step");
    expect(refused.message).toMatch(/staged again/);
    run = await followRun(ctx, run.id);
    expect(run.step).toBe("confirm");
    expect(run.state.record?.status).toBe("awaiting-confirmation"); // nothing was swapped
    // The tab showing the current staging confirms it.
    run = await act(ctx, run.id, { action: "confirm", host: hostname(), restoreId: run.state.restoreId! });
    expect(run.step).toBe("restore");
    run = await waitFor(
      async () => {
        const r = await followRun(ctx, run.id);
        return r.step === "after" ? r : undefined;
      },
      60_000,
      "the restore",
    );
    await act(ctx, run.id, { action: "done" });
  });
});

describe("leaving a run whose agent cannot be asked", () => {
  it("after the confirmation it does not claim that nothing changed, and keeps the restore's id", async () => {
    const ctx = context(await catalogSets());
    let run = await verifiedRun(ctx);
    run = await act(ctx, run.id, { action: "confirm", host: hostname() });
    const restoreId = run.state.restoreId!;
    // The agent swaps the database; the dashboard cannot reach it any more before it saw that.
    const down = context(await catalogSets(), { configured: `http://127.0.0.1:${await freePort()}` });
    const left = await act(down, run.id, { action: "abandon" });
    expect(left.status).toBe("abandoned");
    const message = left.state.events.at(-1)!.message;
    expect(message).not.toMatch(/Nothing on the target changed/);
    expect(message).toMatch(/could not be asked/);
    expect(message).toContain(restoreId);
    expect(left.state.restoreId).toBe(restoreId);
    const rec = await waitFor(
      async () => {
        const r = await ctx.targets.configured()!.restore(restoreId);
        return r.status === "succeeded" ? r : undefined;
      },
      60_000,
      "the restore",
    );
    expect(rec.asideDir).not.toBeNull(); // it did change the target
  });

  it("a staging last seen running does not keep the run from being left when its agent is gone", async () => {
    const ctx = context(await catalogSets());
    const run = await verifiedRun(ctx);
    const rec = run.state.record!;
    // Saved while staging ran; then the machine went away for good.
    db.prepare("UPDATE wizard_runs SET step = 'stage', state = ? WHERE id = ?").run(
      JSON.stringify({ ...run.state, record: { ...rec, status: "running", phase: "download", canConfirm: false, canCancel: false } }),
      run.id,
    );
    const down = context(await catalogSets(), { configured: `http://127.0.0.1:${await freePort()}` });
    const left = await act(down, run.id, { action: "abandon" });
    expect(left.status).toBe("abandoned");
    expect(left.state.events.at(-1)!.message).toMatch(/could not be asked/);
    expect(activeRun(ctx)).toBeUndefined();
    await ctx.targets.configured()!.cancelRestore(run.state.restoreId!); // the staging is still on the (reachable) agent
  });
});

describe("going back while the agent cannot be asked", () => {
  it("keeps the staged restore in the run (the agent would refuse every new one while it waits), and drops it once the agent answers", async () => {
    const ctx = context(await catalogSets());
    let run = await verifiedRun(ctx);
    const staged = run.state.restoreId!;
    const down = context(await catalogSets(), { configured: `http://127.0.0.1:${await freePort()}` });
    const err = await expectDomainError(act(down, run.id, { action: "back", to: "preview" }), 502, "agent_unreachable");
    expect(err.message).toMatch(/Cannot reach the agent/);
    run = await followRun(ctx, run.id);
    expect(run.step).toBe("confirm");
    expect(run.state.restoreId).toBe(staged);
    // The agent answers again: back drops the staging there, and staging again is possible.
    run = await act(ctx, run.id, { action: "back", to: "preview" });
    expect((await ctx.targets.configured()!.restore(staged)).status).toBe("cancelled");
    run = await act(ctx, run.id, { action: "stage" });
    expect(run.state.restoreId).not.toBe(staged);
    await waitFor(async () => ((await followRun(ctx, run.id)).state.record?.status === "awaiting-confirmation" ? true : undefined), 60_000, "staging");
    await act(ctx, run.id, { action: "abandon" });
  });
});

describe("the background watcher's choice", () => {
  it("follows a confirmed restore whose start no refresh has seen yet (a dashboard restart right after the confirmation), until its outcome is in", async () => {
    const ctx = context(await catalogSets());
    let run = await verifiedRun(ctx);
    expect(needsFollowing(run)).toBe(false); // waiting for the user
    run = await act(ctx, run.id, { action: "confirm", host: hostname() });
    expect(run.state.record?.status).toBe("awaiting-confirmation"); // as saved: the route's refresh never ran
    expect(needsFollowing(run)).toBe(true);
    run = await waitFor(
      async () => {
        const r = await followRun(ctx, run.id);
        return r.step === "after" ? r : undefined;
      },
      60_000,
      "the restore",
    );
    expect(needsFollowing(run)).toBe(false);
    run = await act(ctx, run.id, { action: "rollback" });
    expect(needsFollowing(run)).toBe(true);
    run = await waitFor(
      async () => {
        const r = await followRun(ctx, run.id);
        return r.state.record?.status === "rolled-back" ? r : undefined;
      },
      60_000,
      "the rollback",
    );
    expect(needsFollowing(run)).toBe(false);
    await act(ctx, run.id, { action: "done" });
  });
});

describe("a new machine's agent URL", () => {
  it("refuses a user name or password in it: they would be kept and shown with the URL (run, audit log, messages)", async () => {
    const ctx = context(await catalogSets());
    const run = startRun(ctx);
    const url = `${agentUrl.replace("http://", "http://admin:hunter2-secret@")}`;
    const err = await expectDomainError(act(ctx, run.id, { action: "check-target", target: { kind: "new", url, token: TOKEN } }), 400, "bad_request");
    expect(err.message).toMatch(/user name or password/);
    expect(err.message).not.toContain("hunter2-secret");
    expect(db.prepare("SELECT state FROM wizard_runs WHERE id = ?").pluck().get(run.id)).not.toContain("hunter2-secret");
    expect(JSON.stringify(readAudit(db))).not.toContain("hunter2-secret");
    expect(db.prepare("SELECT COUNT(*) FROM restore_agent_targets WHERE url LIKE '%hunter2%'").pluck().get()).toBe(0);
    await act(ctx, run.id, { action: "abandon" });
  });
});

describe("a confirmation whose answer was lost", () => {
  it("is followed from the confirm step: the agent swapped, so the run moves on to the restore and After, and rollback is offered", async () => {
    const ctx = context(await catalogSets());
    let run = await verifiedRun(ctx);
    // The agent takes the confirmation, but its answer never reaches the run (a timeout, a cut, a shape this dashboard does not read).
    await ctx.targets.configured()!.confirmRestore(run.state.restoreId!, { expectHost: hostname() });
    run = await waitFor(
      async () => {
        const r = await followRun(ctx, run.id);
        return r.state.record?.status === "succeeded" ? r : undefined;
      },
      60_000,
      "the restore",
    );
    expect(run.step).toBe("after");
    const id = run.id;
    expect(readAudit(db, { actionPrefix: "restore.restore" }).filter((e) => (e.detail as { runId?: string } | null)?.runId === id)).toEqual([
      expect.objectContaining({ outcome: "succeeded" }),
    ]);
    run = await act(ctx, run.id, { action: "rollback" });
    await waitFor(async () => ((await followRun(ctx, run.id)).state.record?.status === "rolled-back" ? true : undefined), 60_000, "the rollback");
    await act(ctx, run.id, { action: "done" });
  });
});

describe("a staging whose answer was lost", () => {
  it.each([
    ["while the agent still stages it", false],
    ["once the agent has staged it", true],
  ])("is adopted by the next Stage %s: the run follows that restore instead of being refused", async (_when, waitStaged) => {
    const ctx = context(await catalogSets());
    let run = startRun(ctx);
    run = await act(ctx, run.id, { action: "check-target", target: { kind: "configured" } });
    run = await act(ctx, run.id, { action: "accept-target" });
    run = await act(ctx, run.id, { action: "choose", candidate: { kind: "backup", setId } });
    // The agent takes the wizard's POST /restores, but its answer never reaches the run (a timeout, a cut connection).
    const lost = await ctx.targets.configured()!.startRestore({
      source: { kind: "backup", setId },
      dryRun: false,
      confirm: false,
      compareWithLive: true,
      include: run.state.include,
    });
    expect(run.state.restoreId).toBeNull();
    if (waitStaged)
      await waitFor(
        async () => ((await ctx.targets.configured()!.restore(lost.restoreId)).status === "awaiting-confirmation" ? true : undefined),
        60_000,
        "staging",
      );
    run = await act(ctx, run.id, { action: "stage" });
    expect(run.step).toBe("stage");
    expect(run.state.restoreId).toBe(lost.restoreId);
    expect(run.state.events.at(-1)).toMatchObject({ action: "stage", outcome: "adopted" });
    await waitFor(async () => ((await followRun(ctx, run.id)).state.record?.status === "awaiting-confirmation" ? true : undefined), 60_000, "staging");
    run = await act(ctx, run.id, { action: "verified" });
    expect(run.step).toBe("confirm");
    await act(ctx, run.id, { action: "abandon" });
    expect((await ctx.targets.configured()!.restore(lost.restoreId)).status).toBe("cancelled");
  });

  it("a restore staged on the agent for another backup is not adopted: the agent's refusal stands", async () => {
    const ctx = context(await catalogSets());
    let run = startRun(ctx);
    run = await act(ctx, run.id, { action: "check-target", target: { kind: "configured" } });
    run = await act(ctx, run.id, { action: "accept-target" });
    run = await act(ctx, run.id, { action: "choose", candidate: { kind: "backup", setId } });
    const other = await ctx.targets.configured()!.startRestore({
      source: { kind: "backup", setId },
      dryRun: false,
      confirm: false,
      compareWithLive: true,
      include: { ...run.state.include, tls: !run.state.include.tls },
    });
    await waitFor(
      async () => ((await ctx.targets.configured()!.restore(other.restoreId)).status === "awaiting-confirmation" ? true : undefined),
      60_000,
      "staging",
    );
    await expectDomainError(act(ctx, run.id, { action: "stage" }), 409, "restore_state");
    expect((await followRun(ctx, run.id)).state.restoreId).toBeNull();
    await ctx.targets.configured()!.cancelRestore(other.restoreId);
    await act(ctx, run.id, { action: "abandon" });
  });
});
