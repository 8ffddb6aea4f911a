import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openDatabase, readAudit, type Db } from "../db/database";
import { startTestKubeApi, type TestKubeApi } from "./testing/test-api-server";
import { seedHomelab } from "./simulator/scenarios";
import { makeNodeContext, type NodeContext } from "./context";
import { act, activeRun, getRun, revealToken, startMigration, viewRun } from "./worker-migration";
import { fetchNodes } from "./node-service";
import { DrainJobs } from "./drain-jobs";
import { isDomainError } from "../contracts/errors";

/** The wizard's server side, step by step, against the test API server and a real SQLite file. */

const TOKEN = "K10c0ffee0123456789abcdef0123456789abcdef0123456789abcdef01234567::server:5up3r53cr3t";
const fast = { backoffInitialMs: 100, backoffMaxMs: 300, pollMs: 50 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let api: TestKubeApi;
let dataDir: string;
let db: Db;
let ctx: NodeContext;
let tokenFile: string;

beforeAll(async () => {
  // A dead worker's pods go 1.5 s after it dies (the taint manager; 300 s on a real cluster), so its drain can finish.
  api = await startTestKubeApi({
    terminationGraceMs: 150,
    controllers: { replacementDelayMs: 100, readyDelayMs: 600 },
    podGcDelayMs: 50,
    defaultTolerationMs: 1500,
  });
  seedHomelab(api.cluster);
  dataDir = mkdtempSync(path.join(tmpdir(), "lifeboat-wm-"));
  tokenFile = path.join(dataDir, "node-token");
  writeFileSync(tokenFile, TOKEN + "\n", { mode: 0o600 });
  db = openDatabase(dataDir);
  ctx = makeNodeContext(
    db,
    { KUBECONFIG: api.kubeconfigPath, LIFEBOAT_K3S_TOKEN_FILE: tokenFile, LIFEBOAT_K3S_URL: undefined },
    { drainTiming: fast, timeoutMs: 3000 },
  );
});
afterAll(async () => {
  db?.close();
  await api?.stop();
});

const apiError = async (p: Promise<unknown> | (() => unknown)) => {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    if (isDomainError(e)) return e;
    throw e;
  }
  throw new Error("expected a DomainError");
};

describe("worker-migration wizard (server side)", () => {
  it("refuses the control-plane node", async () => {
    const e = await apiError(startMigration(ctx, "pi-1"));
    expect(e.status).toBe(422);
    expect(e.message).toMatch(/^pi-1 runs the k3s server \(control plane: control-plane, master\)/);
    expect(activeRun(ctx)).toBeUndefined();
    expect((await apiError(startMigration(ctx, "pi-9"))).status).toBe(404);
  });

  it("walks cordon → drain → delete → join → wait → summary, saving every step", async () => {
    let run = await startMigration(ctx, "pi-2");
    expect(run.step).toBe("precheck");
    expect(run.state.precheck!.warnings.length).toBeGreaterThan(0);
    expect((await apiError(startMigration(ctx, "pi-3"))).status).toBe(409);

    // Wrong step and unacknowledged warnings are refused without changing anything.
    expect((await apiError(act(ctx, run.id, { action: "cordon" }))).code).toBe("wrong_step");
    expect((await apiError(act(ctx, run.id, { action: "accept-precheck" }))).code).toBe("acknowledge_warnings");
    run = await act(ctx, run.id, { action: "accept-precheck", acknowledgeWarnings: true });
    expect(run.step).toBe("cordon");

    run = await act(ctx, run.id, { action: "cordon" });
    expect(run.step).toBe("drain");
    expect(api.cluster.nodes.get("pi-2")!.spec.unschedulable).toBe(true);

    // Without the explicit choices the drain is refused; with them it goes through the budget.
    run = await act(ctx, run.id, { action: "drain", options: { deleteEmptyDirData: false, force: false, timeoutSeconds: 30 } });
    const refused = await ctx.drains.settled(run.state.drainJobId!);
    expect(refused!.state).toBe("refused");
    expect((await apiError(act(ctx, run.id, { action: "drained" }))).code).toBe("not_drained");
    run = await act(ctx, run.id, { action: "drain", options: { deleteEmptyDirData: true, force: true, timeoutSeconds: 30 } });
    const running = await viewRun(ctx, run);
    expect(running.drain?.state).toBe("running");
    expect((await ctx.drains.settled(run.state.drainJobId!))!.state).toBe("succeeded");
    run = await act(ctx, run.id, { action: "drained" });
    expect(run.step).toBe("delete");

    expect((await apiError(act(ctx, run.id, { action: "delete", confirm: "pi-3" }))).code).toBe("confirm_mismatch");
    expect(api.cluster.nodes.has("pi-2")).toBe(true);
    run = await act(ctx, run.id, { action: "delete", confirm: "pi-2" });
    expect(run.step).toBe("join");
    expect(api.cluster.nodes.has("pi-2")).toBe(false);

    // Join: the server URL from the kubeconfig (loopback here, so flagged), the token masked.
    const atJoin = await viewRun(ctx, run);
    expect(atJoin.join).toMatchObject({
      server: api.url,
      tokenAvailable: true,
      command: `curl -sfL https://get.k3s.io | K3S_URL=${api.url} K3S_TOKEN=<token> sh -`,
    });
    expect(atJoin.join!.serverWarning).toMatch(/loopback address/);
    expect(JSON.stringify(atJoin)).not.toContain("5up3r53cr3t");
    const revealed = revealToken(ctx, run.id);
    expect(revealed.token).toBe(TOKEN);
    expect(revealed.command).toBe(`curl -sfL https://get.k3s.io | K3S_URL=${api.url} K3S_TOKEN=${TOKEN} sh -`);

    run = await act(ctx, run.id, { action: "joined" });
    expect(run.step).toBe("wait");
    expect((await viewRun(ctx, run)).candidates).toEqual([]);
    expect((await apiError(act(ctx, run.id, { action: "finish" }))).code).toBe("no_new_node");

    api.cluster.registerNode({ name: "pi-2", internalIP: "192.168.1.22", kubeletVersion: "v1.32.1+k3s1" }, 400);
    const registering = await viewRun(ctx, getRun(ctx, run.id));
    expect(registering.candidates).toEqual([expect.objectContaining({ name: "pi-2", ready: "NotReady" })]);
    await sleep(600);
    const joined = await viewRun(ctx, getRun(ctx, run.id));
    expect(joined.state.newNode).toMatchObject({ name: "pi-2", internalIP: "192.168.1.22", kubeletVersion: "v1.32.1+k3s1" });

    // A fresh process (new database handle) resumes the same run at the same step.
    const again = openDatabase(dataDir);
    const ctx2 = makeNodeContext(again, ctx.env);
    expect(activeRun(ctx2)!.step).toBe("wait");
    again.close();

    run = await act(ctx, run.id, { action: "finish" });
    expect(run).toMatchObject({ step: "summary", status: "done" });
    expect(activeRun(ctx)).toBeUndefined();
    expect(run.state.events.map((e) => e.action)).toEqual([
      "precheck",
      "precheck-accepted",
      "cordon",
      "drain",
      "drain",
      "drain",
      "delete",
      "token",
      "join",
      "new-node",
      "finish",
    ]);

    // Every action is in the audit log; the token value never is.
    const log = readAudit(db);
    expect(log.map((e) => e.action)).toEqual(
      expect.arrayContaining([
        "worker-migration.start",
        "node.cordon",
        "node.drain",
        "node.delete",
        "worker-migration.token.reveal",
        "worker-migration.new-node",
        "worker-migration.finish",
      ]),
    );
    expect(log.find((e) => e.action === "node.delete")).toMatchObject({ target: "pi-2", outcome: "ok" });
    expect(JSON.stringify(log)).not.toContain("5up3r53cr3t");
    expect(db.prepare("SELECT group_concat(state, '') FROM wizard_runs").pluck().get()).not.toContain("5up3r53cr3t");
  }, 60_000);

  it("can stop a drain and abandon the migration, leaving the node cordoned and saying so", async () => {
    api.cluster.updatePdb("default", "web", { minAvailable: 5 });
    api.cluster.addPod({ name: "web-7d4b9c6f5d-q1q1q", node: "pi-3", owner: { kind: "ReplicaSet", name: "web-7d4b9c6f5d" }, labels: { app: "web" } });
    let run = await startMigration(ctx, "pi-3");
    run = await act(ctx, run.id, { action: "accept-precheck", acknowledgeWarnings: true });
    run = await act(ctx, run.id, { action: "cordon" });
    run = await act(ctx, run.id, { action: "drain", options: { deleteEmptyDirData: true, force: true, timeoutSeconds: 60 } });
    for (let i = 0; i < 100 && !ctx.drains.get(run.state.drainJobId!)!.pods.some((p) => p.state === "blocked"); i++) await sleep(50);
    expect((await apiError(act(ctx, run.id, { action: "drain", options: { deleteEmptyDirData: true, force: true, timeoutSeconds: 60 } }))).code).toBe(
      "drain_running",
    );
    run = await act(ctx, run.id, { action: "cancel-drain" });
    expect(ctx.drains.get(run.state.drainJobId!)!.state).toBe("cancelled");
    run = await act(ctx, run.id, { action: "abandon" });
    expect(run.status).toBe("abandoned");
    expect(run.state.events.at(-1)!.message).toBe('Abandoned at the "drain" step. pi-3 stays cordoned; uncordon it on the Nodes page to use it again.');
    expect(api.cluster.nodes.get("pi-3")!.spec.unschedulable).toBe(true);
    expect(activeRun(ctx)).toBeUndefined();
    expect((await apiError(act(ctx, run.id, { action: "cordon" }))).code).toBe("migration_closed");
    expect(readAudit(db, { actionPrefix: "worker-migration.abandon" })).toHaveLength(1);
    expect(readAudit(db, { actionPrefix: "node.drain" })[0]).toMatchObject({ target: "pi-3", outcome: "cancelled" });
  });

  it("keeps the last node list when the cluster becomes unreachable", async () => {
    const live = await fetchNodes(ctx);
    expect(live).toMatchObject({ live: true, error: null });
    const names = live.nodes.map((n) => n.name);
    const other = makeNodeContext(db, { ...ctx.env, KUBECONFIG: path.join(dataDir, "kubeconfig-dead") });
    writeFileSync(path.join(dataDir, "kubeconfig-dead"), api.kubeconfig.replace(/:\d+\n/, ":1\n"));
    const dead = await fetchNodes(other);
    expect(dead.error?.code).toBe("unreachable");
    // A different server URL has no cache of its own: nothing is shown rather than another cluster's nodes.
    expect(dead.nodes).toEqual([]);
    api.setForbidden([{ verb: "list", resource: "nodes" }]);
    try {
      const cached = await fetchNodes(ctx);
      expect(cached).toMatchObject({ live: false, fetchedAt: live.fetchedAt, error: { code: "forbidden", verb: "list", resource: "nodes" } });
      expect(cached.nodes.map((n) => n.name)).toEqual(names);
    } finally {
      api.setForbidden([]);
    }
    const none = await fetchNodes(makeNodeContext(db, { ...ctx.env, KUBECONFIG: "/nonexistent" }));
    expect(none).toMatchObject({ cluster: null, live: false, error: { code: "not_configured" } });
  });

  it("marks a drain that was running when the dashboard stopped as interrupted", () => {
    db.prepare("INSERT INTO drain_jobs (id, node, state, job, started_at, updated_at) VALUES ('j1', 'pi-3', 'running', ?, ?, ?)").run(
      JSON.stringify({
        id: "j1",
        node: "pi-3",
        state: "running",
        options: { deleteEmptyDirData: false, force: false, timeoutSeconds: 300 },
        startedAt: new Date().toISOString(),
        finishedAt: null,
        pods: [],
        needsChoice: [],
        blockers: [],
        message: null,
        kubectl: "kubectl drain pi-3",
      }),
      new Date().toISOString(),
      new Date().toISOString(),
    );
    const jobs = new DrainJobs(db, ctx.client);
    expect(jobs.get("j1")).toMatchObject({ state: "interrupted", message: expect.stringContaining("drain again") });
    expect(jobs.latestForNode("pi-3")?.id).toBe("j1");
  });

  it("migrates a dead worker (NotReady): the drain does not wait for pods nobody can confirm, and deleting the node removes them", async () => {
    // pi-3 is left cordoned by the abandoned migration above; its kubelet is now gone for good.
    api.cluster.updatePdb("default", "web", { minAvailable: 1 });
    api.cluster.addPod({ name: "api-5c7d8f9b6-k2m4p", node: "pi-3", owner: { kind: "ReplicaSet", name: "api-5c7d8f9b6" }, labels: { app: "api" } });
    api.cluster.addPod({ name: "mqtt-0", node: "pi-3", owner: { kind: "StatefulSet", name: "mqtt" }, labels: { app: "mqtt" } });
    api.cluster.setNodeReady("pi-3", false);
    let run = await startMigration(ctx, "pi-3");
    run = await act(ctx, run.id, { action: "accept-precheck", acknowledgeWarnings: true });
    run = await act(ctx, run.id, { action: "cordon" });
    run = await act(ctx, run.id, { action: "drain", options: { deleteEmptyDirData: true, force: true, timeoutSeconds: 30 } });
    const job = (await ctx.drains.settled(run.state.drainJobId!))!;
    expect(job.state, job.message ?? "").toBe("succeeded");
    expect(job.pods.filter((p) => p.state === "deleted").map((p) => p.name)).toEqual(expect.arrayContaining(["api-5c7d8f9b6-k2m4p", "mqtt-0"]));
    expect(job.message).toContain("The node is NotReady, so its kubelet cannot confirm that evicted pods stopped: pods ");
    expect(readAudit(db, { actionPrefix: "node.drain" }).find((e) => e.outcome === "succeeded" && e.target === "pi-3")).toBeTruthy();

    run = await act(ctx, run.id, { action: "drained" });
    expect(run.step).toBe("delete");
    expect(run.state.events.at(-1)).toMatchObject({ action: "drain", outcome: "succeeded", message: job.message });
    // Still Terminating, as on a real cluster: nobody confirms them until the node object goes.
    const stuck = [...api.cluster.pods.values()].filter((p) => p.spec.nodeName === "pi-3" && p.metadata.deletionTimestamp).map((p) => p.metadata.name);
    expect(stuck).toEqual(expect.arrayContaining(["api-5c7d8f9b6-k2m4p", "mqtt-0"]));

    run = await act(ctx, run.id, { action: "delete", confirm: "pi-3" });
    expect(run.step).toBe("join");
    expect(api.cluster.nodes.has("pi-3")).toBe(false);
    expect(run.state.events.at(-1)!.message).toMatch(
      /^The node object pi-3 is deleted\. The pod garbage collector now removes the \d+ pods still Terminating on it \(.*default\/mqtt-0.*\); a StatefulSet recreates its pod elsewhere only then\.$/,
    );
    for (let i = 0; i < 60 && [...api.cluster.pods.values()].some((p) => p.spec.nodeName === "pi-3"); i++) await sleep(50);
    expect([...api.cluster.pods.values()].filter((p) => p.spec.nodeName === "pi-3")).toEqual([]);
    for (let i = 0; i < 60 && !api.cluster.pods.get("default/mqtt-0")?.spec.nodeName; i++) await sleep(50);
    expect(api.cluster.pods.get("default/mqtt-0")!.spec.nodeName).not.toBe("pi-3");
    run = await act(ctx, run.id, { action: "abandon" });
    expect(run.status).toBe("abandoned");
  });

  it("two tabs polling the wait step record the new node once, and never over a run closed meanwhile", async () => {
    let run = await startMigration(ctx, "pi-2");
    const known = (await ctx.client().listNodes()).map((n) => n.metadata!.uid!);
    db.prepare("UPDATE wizard_runs SET step = 'wait', state = ? WHERE id = ?").run(JSON.stringify({ ...run.state, knownNodeUids: known }), run.id);
    run = getRun(ctx, run.id);
    api.cluster.addNode({ name: "pi-5", ready: true, internalIP: "192.168.1.25" });
    const views = await Promise.all([viewRun(ctx, run), viewRun(ctx, run), viewRun(ctx, run)]);
    expect(views.map((v) => v.state.newNode?.name)).toEqual(["pi-5", "pi-5", "pi-5"]);
    const runId = run.id;
    expect(getRun(ctx, runId).state.events.filter((e) => e.action === "new-node")).toHaveLength(1);
    expect(readAudit(db, { actionPrefix: "worker-migration.new-node" }).filter((e) => (e.detail as { runId?: string } | null)?.runId === runId)).toHaveLength(
      1,
    );
    // A page polling with the run it loaded before another tab abandoned it writes nothing over the abandon.
    db.prepare("UPDATE wizard_runs SET state = ? WHERE id = ?").run(JSON.stringify({ ...run.state, knownNodeUids: known }), runId);
    const stale = getRun(ctx, runId);
    await act(ctx, runId, { action: "abandon" });
    await viewRun(ctx, stale);
    const after = getRun(ctx, runId);
    expect(after.status).toBe("abandoned");
    expect(after.state.events.at(-1)!.action).toBe("abandon");
  });
});
