import { describe, it, expect, beforeAll, afterAll } from "vitest";
import https from "node:https";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { KubeClient } from "../kube-client";
import { nodeSummary } from "../views";
import { startDemoCluster, simulatedK3sRunning, DEMO_JOIN_PATH, type DemoCluster } from "./demo-cluster";
import { readKinePods } from "./kine-pods";
import { makeTestServer, runK3s, waitFor, type TestServer } from "../../../agent/testing/restore-fixtures";

/**
 * The demo cluster against a real simulated k3s (agent/demo/simulated-k3s.ts: a kine writer
 * process on a generated database): the write-up's three Pis and their workload over HTTPS, the
 * pods kine holds, the API going away while k3s is stopped, the nodes NotReady until their kubelets
 * "reconnect", an older database's pods after a swap, and the demo's join action.
 */

let root: string;
let server: TestServer;
let older: TestServer;
let demo: DemoCluster;
const client = () => KubeClient.fromKubeconfig(demo.kubeconfigPath, { timeoutMs: 3000 });
const kineNames = (dbPath: string) => readKinePods(dbPath).pods.map((p) => `${p.namespace}/${p.name}`);
const appPods = async () =>
  (await client().listPods())
    .filter((p) => p.metadata?.namespace === "apps")
    .map((p) => `apps/${p.metadata?.name}`)
    .sort();

function post(path_: string): Promise<{ status: number; body: any }> {
  const u = new URL(demo.api.url + path_);
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: u.hostname, port: u.port, path: u.pathname, method: "POST", ca: demo.api.caPem, headers: { authorization: `Bearer ${demo.api.token}` } },
      (res) => {
        let text = "";
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), "lifeboat-demo-cluster-"));
  server = makeTestServer(path.join(root, "live"), { seed: 31, marker: "live" });
  // What an older backup holds: the same cluster (same token) with other pods.
  older = makeTestServer(path.join(root, "older"), { seed: 77, token: server.token, marker: "older" });
  runK3s(server, "start");
  demo = await startDemoCluster({
    dir: path.join(root, "demo-cluster"),
    serverDir: server.serverDir,
    watchMs: 100,
    syncMs: 300,
    readyAfterMs: 800,
    staggerMs: 300,
    joinReadyAfterMs: 800,
  });
}, 60_000);

afterAll(async () => {
  await demo?.stop();
  if (server) runK3s(server, "stop");
  rmSync(root, { recursive: true, force: true });
});

describe("the demo cluster", () => {
  it("serves the write-up's three Raspberry Pis over HTTPS with a kubeconfig (0600), and their workload", async () => {
    expect(statSync(demo.kubeconfigPath).mode & 0o777).toBe(0o600);
    expect(demo.api.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const c = client();
    const nodes = await c.listNodes();
    const pods = await c.listPods();
    const summaries = nodes.map((n) =>
      nodeSummary(
        n,
        pods.filter((p) => p.spec?.nodeName === n.metadata?.name),
      ),
    );
    expect(
      summaries.map((s) => [s.name, s.ready, s.controlPlane, s.architecture, s.kubeletVersion, s.allocatable.cpuMillis, s.allocatable.memoryBytes]),
    ).toEqual([
      ["pi-1", "Ready", true, "arm64", "v1.31.4+k3s1", 4000, 8 * 1024 ** 3],
      ["pi-2", "Ready", false, "arm64", "v1.31.4+k3s1", 4000, 8 * 1024 ** 3],
      ["pi-3", "Ready", false, "arm64", "v1.31.4+k3s1", 4000, 8 * 1024 ** 3],
    ]);
    expect(nodes[0].metadata?.labels).toMatchObject({ "node-role.kubernetes.io/control-plane": "true", "node.kubernetes.io/instance-type": "k3s" });
    const owners = new Set(pods.map((p) => p.metadata?.ownerReferences?.[0]?.kind));
    expect([...owners]).toEqual(expect.arrayContaining(["ReplicaSet", "DaemonSet", "StatefulSet", "Job"]));
    expect((await c.listPdbs()).map((p) => [p.metadata?.name, p.status?.disruptionsAllowed])).toEqual([["web", 1]]);
    const pv = (await c.listPersistentVolumes())[0];
    expect(pv.metadata?.annotations?.["pv.kubernetes.io/provisioned-by"]).toBe("rancher.io/local-path");
    expect(pods.some((p) => p.metadata?.namespace === "kube-system" && p.metadata?.name?.startsWith("coredns-"))).toBe(true);
  });

  it("serves the pods the kine database holds, and follows the writer as it replaces them", async () => {
    expect(await appPods()).toEqual(kineNames(server.dbPath).sort());
    // The writer replaces a pod now and then (5 % of its 100 ms ticks): the API follows within a sync.
    const first = await appPods();
    await waitFor(
      async () => {
        const now = await appPods();
        return now.join() !== first.join() && now.join() === kineNames(server.dbPath).sort().join() ? true : undefined;
      },
      30_000,
      "a replaced pod to show",
    );
  });

  it("evicts under the PodDisruptionBudget like kube-apiserver: the second web pod on pi-2 waits for the first one's replacement", async () => {
    const c = client();
    await c.cordon("pi-2");
    const web = (await c.listPods({ nodeName: "pi-2" })).filter((p) => p.metadata?.labels?.app === "web").map((p) => p.metadata!.name!);
    expect(web).toHaveLength(2);
    expect(await c.evictPod("default", web[0])).toEqual({ outcome: "evicted" });
    const blocked = await c.evictPod("default", web[1]);
    expect(blocked).toMatchObject({ outcome: "blocked", pdbs: ["web"] });
    // The replacement lands on pi-3 (pi-2 is cordoned) and turns Ready (6 s): then the budget lets the second one go.
    await waitFor(async () => ((await c.evictPod("default", web[1])).outcome === "evicted" ? true : undefined), 30_000, "the second eviction");
    await c.uncordon("pi-2");
  }, 40_000);

  it("stops answering while k3s is stopped; after it starts, the nodes are NotReady until their kubelets reconnect, and the pods are the restored database's", async () => {
    const before = await appPods();
    runK3s(server, "stop");
    expect(simulatedK3sRunning(server.serverDir)).toBe(false);
    await waitFor(() => (demo.k3sRunning() ? undefined : true), 5000, "the demo cluster to see k3s stop");
    await expect(client().listNodes()).rejects.toMatchObject({ code: "kube_unreachable" });

    // A restore of an older backup: the older database in place of the live one.
    for (const f of ["state.db", "state.db-wal", "state.db-shm"]) rmSync(path.join(path.dirname(server.dbPath), f), { force: true });
    const src = new Database(older.dbPath, { readonly: true });
    await src.backup(server.dbPath);
    src.close();
    const olderPods = kineNames(server.dbPath);
    const onlyLive = before.filter((p) => !olderPods.includes(p));
    const onlyOlder = olderPods.filter((p) => !before.includes(p));
    expect(onlyLive.length).toBeGreaterThan(0);
    expect(onlyOlder.length).toBeGreaterThan(0);

    runK3s(server, "start");
    const notReady = await waitFor(
      async () => {
        try {
          return (await client().listNodes()).map((n) => n.status?.conditions?.find((x) => x.type === "Ready")?.status);
        } catch {
          return undefined;
        }
      },
      10_000,
      "the API to answer again",
    );
    expect(notReady).toEqual(["Unknown", "Unknown", "Unknown"]);
    // The older database's pods are back (the writer may have replaced one or two since it started).
    const after = await appPods();
    expect(after.filter((p) => onlyLive.includes(p))).toEqual([]);
    expect(after.filter((p) => onlyOlder.includes(p)).length).toBeGreaterThanOrEqual(Math.max(1, onlyOlder.length - 2));
    await waitFor(
      async () => ((await client().listNodes()).every((n) => n.status?.conditions?.find((x) => x.type === "Ready")?.status === "True") ? true : undefined),
      10_000,
      "the nodes to be Ready",
    );
  }, 40_000);

  it("the demo's join action makes a new Raspberry Pi register: NotReady, then Ready", async () => {
    const joined = await post(DEMO_JOIN_PATH);
    expect(joined.status).toBe(201);
    expect(joined.body.metadata.name).toBe("pi-4");
    const ready = async () => (await client().readNode("pi-4")).status?.conditions?.find((x) => x.type === "Ready")?.status;
    expect(await ready()).toBe("False");
    await waitFor(async () => ((await ready()) === "True" ? true : undefined), 10_000, "pi-4 to be Ready");
    // DaemonSet pods follow it there.
    await waitFor(async () => ((await client().listPods({ nodeName: "pi-4" })).length >= 2 ? true : undefined), 10_000, "DaemonSet pods on pi-4");
  });
});
