import { describe, it, expect, beforeEach, afterEach } from "vitest";
import { startTestKubeApi, type TestKubeApi } from "./testing/test-api-server";
import { seedHomelab } from "./simulator/scenarios";
import { KubeClient } from "./kube-client";
import { drainNode } from "./drain";
import { DrainOptions } from "../contracts/nodes";

/**
 * The drain against a node whose pods stay Terminating after they are evicted: a dead worker
 * (kubelet gone, NotReady), where nobody will ever confirm them, and a Ready node, where the drain
 * must keep waiting. The rest of the drain is tested in kube-client.test.ts.
 */

const fast = { backoffInitialMs: 100, backoffMaxMs: 300, pollMs: 50 };
const opts = (o: Partial<DrainOptions> = {}) => DrainOptions.parse({ deleteEmptyDirData: true, force: true, timeoutSeconds: 20, ...o });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let api: TestKubeApi;
let client: KubeClient;
beforeEach(async () => {
  api = await startTestKubeApi({ terminationGraceMs: 150, controllers: { replacementDelayMs: 100, readyDelayMs: 300 }, podGcDelayMs: 50 });
  seedHomelab(api.cluster);
  client = KubeClient.fromKubeconfig(api.kubeconfigPath, { timeoutMs: 3000 });
});
afterEach(() => api?.stop());

const podsOn = (node: string) => [...api.cluster.pods.values()].filter((p) => p.spec.nodeName === node);

describe("drain of a node whose evicted pods stay Terminating", () => {
  it("a dead worker (NotReady): stops waiting once the grace period is over, says why, and the pods go with the node", async () => {
    api.cluster.addPod({ name: "api-5c7d8f9b6-k2m4p", node: "pi-3", owner: { kind: "ReplicaSet", name: "api-5c7d8f9b6" }, labels: { app: "api" } });
    api.cluster.setNodeReady("pi-3", false);
    const job = await drainNode("pi-3", opts(), { client, timing: fast });

    expect(job.state, job.message ?? "").toBe("succeeded");
    const states = Object.fromEntries(job.pods.map((p) => [p.name, p.state]));
    expect(states).toEqual({ "api-5c7d8f9b6-k2m4p": "deleted", "postgres-0": "deleted", "svclb-traefik-4c1b9a2e-jq8zp": "skipped" });
    expect(job.pods.find((p) => p.name === "postgres-0")!.message).toMatch(/^Deleted, but pi-3 is NotReady: its kubelet cannot confirm/);
    expect(job.message).toBe(
      "pi-3 is drained: 2 pods evicted, 1 left in place (DaemonSet or static pods). The node is NotReady, so its kubelet cannot confirm that evicted " +
        "pods stopped: pods default/api-5c7d8f9b6-k2m4p, default/postgres-0 were deleted and will be removed with the node (when it is deleted, or when " +
        "its kubelet is back).",
    );
    expect(job.kubectl).toBe("kubectl drain pi-3 --ignore-daemonsets --delete-emptydir-data --force --timeout=20s --skip-wait-for-delete-timeout=1");
    expect(job.blockers).toEqual([]);

    // As on a real cluster, nobody confirms them: they stay Terminating well past their grace period…
    await sleep(400);
    const stuck = podsOn("pi-3").filter((p) => p.metadata.deletionTimestamp);
    expect(stuck.map((p) => p.metadata.name).sort()).toEqual(["api-5c7d8f9b6-k2m4p", "postgres-0"]);
    // …and the StatefulSet cannot recreate postgres-0 while the old one is there.
    expect([...api.cluster.pods.values()].filter((p) => p.metadata.name === "postgres-0")).toHaveLength(1);

    // Deleting the node object lets the pod GC remove them; then postgres-0 comes back elsewhere.
    await client.deleteNode("pi-3");
    for (let i = 0; i < 60 && podsOn("pi-3").length; i++) await sleep(50);
    expect(podsOn("pi-3")).toEqual([]);
    for (let i = 0; i < 60 && !api.cluster.pods.get("default/postgres-0"); i++) await sleep(50);
    expect(api.cluster.pods.get("default/postgres-0")?.spec.nodeName).toMatch(/^pi-[12]$/);
  });

  // A dead node's pods are not Ready (the node lifecycle controller marks them), so a budget whose
  // pods all run there can never allow an eviction; the taint manager deletes them once their
  // toleration of the not-ready taint runs out (300 s unless a pod says otherwise).
  const webOnPi3 = (cluster: TestKubeApi["cluster"]) => {
    for (const n of ["web-7d4b9c6f5d-2xkqp", "web-7d4b9c6f5d-r8m4s"]) cluster.pods.delete(`default/${n}`);
    for (const n of ["web-7d4b9c6f5d-aaaaa", "web-7d4b9c6f5d-bbbbb"])
      cluster.addPod({
        name: n,
        node: "pi-3",
        owner: { kind: "ReplicaSet", name: "web-7d4b9c6f5d" },
        labels: { app: "web", "pod-template-hash": "7d4b9c6f5d" },
      });
  };

  it("a dead worker holding all of a budget's pods: refused, and the failure says why and when Kubernetes lets them go", async () => {
    webOnPi3(api.cluster);
    api.cluster.setNodeReady("pi-3", false);
    const pod = await client.readPod("default", "web-7d4b9c6f5d-aaaaa");
    expect(pod?.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("False");
    const job = await drainNode("pi-3", opts({ timeoutSeconds: 5 }), { client, timing: fast });
    expect(job.state).toBe("failed");
    expect(job.blockers.map((b) => b.name).sort()).toEqual(["web-7d4b9c6f5d-aaaaa", "web-7d4b9c6f5d-bbbbb"]);
    expect(job.message).toContain(
      "Blocked by PodDisruptionBudget web: pi-3 is NotReady, so the pods it covers there are not Ready and do not count toward it. Kubernetes deletes them once they stop tolerating the node's not-ready taint (300 s after it went NotReady",
    );
  });

  it("a dead worker holding all of a budget's pods: the drain goes through once the taint manager has deleted them", async () => {
    const own = await startTestKubeApi({
      terminationGraceMs: 150,
      controllers: { replacementDelayMs: 100, readyDelayMs: 300 },
      podGcDelayMs: 50,
      defaultTolerationMs: 1000,
    });
    try {
      seedHomelab(own.cluster);
      webOnPi3(own.cluster);
      const ownClient = KubeClient.fromKubeconfig(own.kubeconfigPath, { timeoutMs: 3000 });
      own.cluster.setNodeReady("pi-3", false);
      const job = await drainNode("pi-3", opts({ timeoutSeconds: 20 }), { client: ownClient, timing: fast });
      expect(job.state, job.message ?? "").toBe("succeeded");
      expect(job.pods.filter((p) => p.name.startsWith("web-")).map((p) => p.state)).toEqual(["deleted", "deleted"]);
      expect(own.cluster.history.filter((h) => h.startsWith("taint manager deleted default/web-")).length).toBe(2);
      // Their ReplicaSet starts them elsewhere (its controller runs a moment after the deletions; the
      // drain may end before it, as a terminating pod's deletion is not waited for on a dead node).
      const live = () => [...own.cluster.pods.values()].filter((p) => p.metadata.labels?.app === "web" && !p.metadata.deletionTimestamp);
      for (let i = 0; i < 60 && live().length < 2; i++) await sleep(50);
      const web = live();
      expect(web.length).toBeGreaterThanOrEqual(2);
      expect(web.every((p) => p.spec.nodeName !== "pi-3")).toBe(true);
    } finally {
      own.stop();
    }
  });

  it("a kubelet that comes back confirms the pods left Terminating while it was away", async () => {
    api.cluster.setNodeReady("pi-3", false);
    await client.evictPod("default", "postgres-0");
    await sleep(400);
    expect(api.cluster.pods.get("default/postgres-0")?.metadata.deletionTimestamp).toBeTruthy();
    api.cluster.setNodeReady("pi-3", true);
    const back = api.cluster.pods.get("default/postgres-0");
    // Gone (or already recreated by the StatefulSet, as a new pod).
    expect(back?.metadata.deletionTimestamp).toBeUndefined();
  });

  it("a Ready node whose pod stays Terminating past its grace period still fails at the deadline", async () => {
    // A finalizer keeps the pod after its kubelet confirmed: it is not the node's to give up on.
    api.cluster.addPod({
      name: "api-5c7d8f9b6-k2m4p",
      node: "pi-3",
      owner: { kind: "ReplicaSet", name: "api-5c7d8f9b6" },
      labels: { app: "api" },
      finalizers: ["example.com/cleanup"],
    });
    const job = await drainNode("pi-3", opts({ timeoutSeconds: 5 }), { client, timing: fast });

    expect(job.state).toBe("failed");
    const pod = job.pods.find((p) => p.name === "api-5c7d8f9b6-k2m4p")!;
    expect(pod).toMatchObject({ state: "failed", message: "Evicted, but still terminating when the drain timed out." });
    expect(job.pods.find((p) => p.name === "postgres-0")!.state).toBe("gone");
    expect(job.blockers.map((b) => b.name)).toEqual(["api-5c7d8f9b6-k2m4p"]);
    expect(job.message).toMatch(/^1 pod is still on pi-3 after \d+ s: default\/api-5c7d8f9b6-k2m4p\. Drain again, or look at the pods' events\.$/);
    expect(job.kubectl).not.toContain("--skip-wait-for-delete-timeout");
    // The pod was past its grace period for seconds, on a Ready node.
    const left = api.cluster.pods.get("default/api-5c7d8f9b6-k2m4p")!;
    expect(Date.parse(left.metadata.deletionTimestamp!)).toBeLessThan(Date.now() - 2000);
  }, 30_000);
});
