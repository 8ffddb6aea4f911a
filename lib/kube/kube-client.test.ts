import { describe, it, expect, beforeEach, afterEach } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startTestKubeApi, type TestKubeApi } from "./testing/test-api-server";
import { seedHomelab } from "./simulator/scenarios";
import { KubeClient } from "./kube-client";
import { KubeError } from "./errors";
import { drainNode } from "./drain";
import { nodeSummary } from "./views";
import { runPrecheck } from "./precheck";
import type { DrainJob } from "../contracts/nodes";
import { DrainOptions } from "../contracts/nodes";

/** KubeClient, drain and pre-check against the HTTPS test API server (real TLS, real HTTP). */

const fast = { backoffInitialMs: 100, backoffMaxMs: 300, pollMs: 50 };
const opts = (o: Partial<DrainOptions> = {}) => DrainOptions.parse({ timeoutSeconds: 20, ...o });

let api: TestKubeApi;
let client: KubeClient;
beforeEach(async () => {
  api = await startTestKubeApi({ terminationGraceMs: 150, controllers: { replacementDelayMs: 100, readyDelayMs: 700 }, podGcDelayMs: 50 });
  seedHomelab(api.cluster);
  client = KubeClient.fromKubeconfig(api.kubeconfigPath, { timeoutMs: 3000 });
});
afterEach(() => api?.stop());

const podsOn = (node: string) => [...api.cluster.pods.values()].filter((p) => p.spec.nodeName === node);

describe("KubeClient: nodes", () => {
  it("reads the cluster from the kubeconfig", () => {
    expect(client.cluster).toEqual({
      name: "lifeboat-test",
      server: api.url,
      context: "lifeboat-test",
      source: "kubeconfig",
      kubeconfigPath: api.kubeconfigPath,
    });
  });

  it("never sends a name that is a dot segment: `.` would be the collection (DELETE every node), `..` the API root", async () => {
    for (const name of [".", "..", ""]) {
      const sent = api.requests.length;
      const calls: [string, () => Promise<unknown>][] = [
        ["read", () => client.readNode(name)],
        ["delete", () => client.deleteNode(name)],
        ["cordon", () => client.cordon(name)],
        ["uncordon", () => client.uncordon(name)],
      ];
      for (const [what, call] of calls) await expect(call(), `${what} "${name}"`).rejects.toMatchObject({ code: "kube_not_found" });
      expect(api.requests.slice(sent), `"${name}"`).toEqual([]);
    }
    expect([...api.cluster.nodes.keys()]).toEqual(["pi-1", "pi-2", "pi-3"]);
  });

  it("lists and describes nodes: roles, conditions, versions, resources, pods", async () => {
    const [nodes, pods] = await Promise.all([client.listNodes(), client.listPods()]);
    const sums = nodes.map((n) =>
      nodeSummary(
        n,
        pods.filter((p) => p.spec?.nodeName === n.metadata?.name),
      ),
    );
    const pi1 = sums.find((n) => n.name === "pi-1")!;
    const pi2 = sums.find((n) => n.name === "pi-2")!;
    expect(pi1.roles).toEqual(["control-plane", "master"]);
    expect(pi1.controlPlane).toBe(true);
    expect(pi2.roles).toEqual([]);
    expect(pi2).toMatchObject({
      ready: "Ready",
      kubeletVersion: "v1.31.4+k3s1",
      architecture: "arm64",
      internalIP: "192.168.1.12",
      unschedulable: false,
      pressures: [],
    });
    expect(pi2.allocatable).toEqual({ cpuMillis: 4000, memoryBytes: 3882096 * 1024, pods: 110 });
    // web ×2 (250m/256Mi), redis (100m/128Mi), grafana (100m/192Mi); svclb and debug-shell ask nothing.
    expect(pi2.requested).toEqual({ cpuMillis: 700, memoryBytes: (256 * 2 + 128 + 192) * 2 ** 20 });
    expect(pi2.podCount).toBe(6);
    expect(pi2.conditions.map((c) => c.type)).toEqual(["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]);
    expect(pi2.readySince).toMatch(/^\d{4}-/);
    const onPi2 = await client.listPods({ nodeName: "pi-2" });
    expect(onPi2).toHaveLength(6);
    expect(api.requests.some((r) => r.path === "/api/v1/pods" && decodeURIComponent(r.query).includes("fieldSelector=spec.nodeName=pi-2"))).toBe(true);
  });

  it("cordons and uncordons with a strategic merge patch", async () => {
    const cordoned = await client.cordon("pi-3");
    expect(cordoned.spec?.unschedulable).toBe(true);
    expect(api.cluster.nodes.get("pi-3")!.spec.unschedulable).toBe(true);
    expect(api.requests.filter((r) => r.method === "PATCH").map((r) => r.contentType)).toEqual(["application/strategic-merge-patch+json"]);
    await client.uncordon("pi-3");
    expect(api.cluster.nodes.get("pi-3")!.spec.unschedulable).toBeUndefined();
    expect(api.cluster.nodes.get("pi-3")!.spec.taints).toBeUndefined();
  });

  it("deletes a node", async () => {
    await client.deleteNode("pi-3");
    expect(api.cluster.nodes.has("pi-3")).toBe(false);
    await expect(client.readNode("pi-3")).rejects.toMatchObject({ code: "kube_not_found", status: 404 });
  });
});

describe("KubeClient: errors", () => {
  it("not found: names the node and the cluster", async () => {
    const e = await client.readNode("pi-9").catch((x) => x);
    expect(e).toBeInstanceOf(KubeError);
    expect(e.toInfo()).toMatchObject({ code: "not_found", status: 404, cluster: "lifeboat-test" });
    expect(e.message).toBe('Node "pi-9" was not found in cluster "lifeboat-test": it may have been deleted. Refresh the page to see the current state.');
    await expect(client.cordon("pi-9")).rejects.toMatchObject({ code: "kube_not_found" });
  });

  it("forbidden: names the verb and resource that is missing", async () => {
    api.setForbidden([
      { verb: "delete", resource: "nodes" },
      { verb: "list", resource: "pods" },
    ]);
    const e = await client.deleteNode("pi-3").catch((x) => x);
    expect(e.toInfo()).toMatchObject({ code: "forbidden", status: 403, verb: "delete", resource: "nodes" });
    expect(e.status).toBe(403);
    expect(e.message).toContain('may not delete nodes. Grant it an RBAC rule allowing the verb "delete" on "nodes"');
    expect(e.message).toContain('User "system:serviceaccount:lifeboat:dashboard" cannot delete resource "nodes"');
    await expect(client.listPods()).rejects.toMatchObject({ code: "kube_forbidden", verb: "list", resource: "pods" });
    expect(api.cluster.nodes.has("pi-3")).toBe(true);
  });

  it("unreachable: says the server does not answer", async () => {
    const url = api.url;
    await api.stop();
    const e = await client.listNodes().catch((x) => x);
    expect(e.toInfo()).toMatchObject({ code: "unreachable", status: 0, cluster: "lifeboat-test" });
    expect(e.message).toBe(
      `Cannot reach the Kubernetes API of cluster "lifeboat-test" (${url}): connection refused. Check that the k3s server is running and that the kubeconfig points at the right address.`,
    );
    api = await startTestKubeApi(); // for afterEach
  });

  it("rejected credentials and an untrusted certificate are told apart", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "lifeboat-kc-"));
    const badToken = path.join(dir, "bad-token");
    writeFileSync(badToken, api.kubeconfig.replace(`token: ${api.token}`, "token: not-the-token"));
    const e1 = await KubeClient.fromKubeconfig(badToken)
      .listNodes()
      .catch((x) => x);
    expect(e1.toInfo()).toMatchObject({ code: "unauthorized", status: 401 });
    expect(e1.message).not.toContain("not-the-token");

    const other = await startTestKubeApi({ token: api.token });
    try {
      const wrongCa = path.join(dir, "wrong-ca");
      writeFileSync(wrongCa, api.kubeconfig.replace(api.url, other.url));
      const e2 = await KubeClient.fromKubeconfig(wrongCa)
        .listNodes()
        .catch((x) => x);
      expect(e2.toInfo()).toMatchObject({ code: "tls", status: 0 });
      expect(e2.message).toContain("certificate-authority-data");
    } finally {
      await other.stop();
    }
  });

  it("not configured: says what to set", () => {
    const e = (() => {
      try {
        KubeClient.fromKubeconfig("/nonexistent/kubeconfig");
      } catch (x) {
        return x as KubeError;
      }
    })();
    expect(e).toMatchObject({ code: "kube_not_configured", status: 503 });
    expect(e!.message).toContain("KUBECONFIG points at /nonexistent/kubeconfig, which does not exist");
  });
});

describe("drain", () => {
  it("refuses before evicting anything when pods need a choice (emptyDir, no controller)", async () => {
    await client.cordon("pi-2");
    const job = await drainNode("pi-2", opts(), { client, timing: fast });
    expect(job.state).toBe("refused");
    expect(job.needsChoice.map((c) => `${c.name}:${c.reason}`).sort()).toEqual(["debug-shell:unmanaged", "redis-6f8d5b7c9-tm2vw:emptyDir"]);
    expect(job.message).toContain("Choose to delete emptyDir data and evict pods no controller manages");
    expect(api.requests.some((r) => r.path.endsWith("/eviction"))).toBe(false);
    expect(podsOn("pi-2")).toHaveLength(6);
  });

  it("evicts pod by pod, skips DaemonSet pods, waits through a PodDisruptionBudget refusal", async () => {
    await client.cordon("pi-2");
    const seen: DrainJob[] = [];
    const job = await drainNode("pi-2", opts({ deleteEmptyDirData: true, force: true }), { client, timing: fast, onUpdate: (j) => seen.push(j) });
    expect(job.state, job.message ?? "").toBe("succeeded");
    expect(job.kubectl).toBe("kubectl drain pi-2 --ignore-daemonsets --delete-emptydir-data --force --timeout=20s");
    const svclb = job.pods.find((p) => p.name.startsWith("svclb-"))!;
    expect(svclb.state).toBe("skipped");
    expect(job.pods.filter((p) => p.state === "gone")).toHaveLength(5);

    // One of the two web pods was refused (budget "web" lets one go at a time) and later evicted.
    const blocked = seen.flatMap((j) => j.pods).filter((p) => p.state === "blocked");
    expect(blocked.length).toBeGreaterThan(0);
    expect(blocked[0].name).toMatch(/^web-/);
    expect(blocked[0].pdbs).toEqual(["web"]);
    expect(blocked[0].message).toContain("Cannot evict pod as it would violate the pod's disruption budget.");
    const webFinal = job.pods.filter((p) => p.name.startsWith("web-"));
    expect(webFinal.map((p) => p.state)).toEqual(["gone", "gone"]);
    expect(Math.max(...webFinal.map((p) => p.attempts))).toBeGreaterThan(1);

    // The test server's state: only the DaemonSet pod is left; web runs elsewhere.
    expect(podsOn("pi-2").map((p) => p.metadata.ownerReferences?.[0].kind)).toEqual(["DaemonSet"]);
    const web = [...api.cluster.pods.values()].filter((p) => p.metadata.labels?.app === "web");
    expect(web.every((p) => p.spec.nodeName && p.spec.nodeName !== "pi-2")).toBe(true);
    // Progress went pod by pod through the states.
    const states = new Set(seen.flatMap((j) => j.pods.map((p) => p.state)));
    for (const s of ["pending", "evicting", "blocked", "terminating", "gone", "skipped"]) expect(states).toContain(s);
  });

  it("times out while a budget never allows it, and names the pods and the budget", async () => {
    api.cluster.updatePdb("default", "web", { minAvailable: 2 });
    await client.cordon("pi-2");
    const job = await drainNode("pi-2", opts({ deleteEmptyDirData: true, force: true, timeoutSeconds: 5 }), { client, timing: fast });
    expect(job.state).toBe("failed");
    expect(job.blockers.map((b) => b.name).sort()).toEqual(["web-7d4b9c6f5d-2xkqp", "web-7d4b9c6f5d-r8m4s"]);
    expect(job.blockers.every((b) => b.pdbs.join() === "web")).toBe(true);
    expect(job.message).toMatch(
      /^2 pods are still on pi-2 after \d+ s: default\/web-7d4b9c6f5d-2xkqp, default\/web-7d4b9c6f5d-r8m4s\. Blocked by PodDisruptionBudget web/,
    );
    expect(podsOn("pi-2").filter((p) => p.metadata.labels?.app === "web")).toHaveLength(2);
  }, 30_000);

  it("leaves mirror (static) pods alone and can be cancelled", async () => {
    api.cluster.addPod({ name: "kube-vip-pi-3", namespace: "kube-system", node: "pi-3", mirror: true });
    api.cluster.updatePdb("default", "web", { minAvailable: 3 });
    api.cluster.addPod({ name: "web-7d4b9c6f5d-z9z9z", node: "pi-3", owner: { kind: "ReplicaSet", name: "web-7d4b9c6f5d" }, labels: { app: "web" } });
    const ctl = new AbortController();
    const run = drainNode("pi-3", opts({ deleteEmptyDirData: true, force: true }), {
      client,
      timing: fast,
      signal: ctl.signal,
      onUpdate: (j) => {
        if (j.pods.some((p) => p.state === "blocked")) ctl.abort();
      },
    });
    const job = await run;
    expect(job.state).toBe("cancelled");
    expect(job.pods.find((p) => p.name === "kube-vip-pi-3")!.state).toBe("skipped");
    expect(job.pods.find((p) => p.name === "kube-vip-pi-3")!.message).toMatch(/Static \(mirror\) pod/);
    expect(api.cluster.pods.has("kube-system/kube-vip-pi-3")).toBe(true);
  });

  it("stops at once when RBAC forbids evictions, naming the missing right", async () => {
    api.setForbidden([{ verb: "create", resource: "pods/eviction" }]);
    const job = await drainNode("pi-2", opts({ deleteEmptyDirData: true, force: true }), { client, timing: fast });
    expect(job.state).toBe("failed");
    expect(job.message).toContain('may not create pods/eviction in namespace "default"');
    expect(podsOn("pi-2")).toHaveLength(6);
    // Like kubectl drain, the node was cordoned first.
    expect(api.cluster.nodes.get("pi-2")!.spec.unschedulable).toBe(true);
  });
});

describe("pre-check", () => {
  it("finds node-local data, emptyDir, unmanaged pods, blocking budgets and where pods fit", async () => {
    const r = await runPrecheck(client, "pi-2");
    expect(r.pods).toHaveLength(6);
    expect(r.nodeLocal.map((n) => `${n.name}:${n.volumes[0].kind}`)).toEqual([
      "grafana-7c9f8b6d4-kw5rt:localPersistentVolume",
      "redis-6f8d5b7c9-tm2vw:emptyDir",
    ]);
    expect(r.nodeLocal[0].volumes[0].detail).toContain("local-path");
    expect(r.choices.map((c) => c.reason).sort()).toEqual(["emptyDir", "unmanaged"]);
    expect(r.pdbs).toEqual([
      expect.objectContaining({ name: "web", disruptionsAllowed: 1, podsOnNode: ["web-7d4b9c6f5d-2xkqp", "web-7d4b9c6f5d-r8m4s"], wouldBlock: true }),
    ]);
    // web ×2 and redis fit on pi-1/pi-3; grafana's volume is pinned to pi-2.
    expect(r.capacity.needed).toEqual({ cpuMillis: 700, memoryBytes: (256 * 2 + 128 + 192) * 2 ** 20, pods: 4 });
    expect(r.capacity.unplaceable.map((u) => u.name)).toEqual(["grafana-7c9f8b6d4-kw5rt"]);
    expect(r.capacity.fits).toBe(false);
    expect(r.capacity.targets.map((t) => t.node)).toEqual(["pi-1", "pi-3"]);
    expect(r.warnings.join("\n")).toMatch(/keeps data on pi-2's own disk \(grafana-7c9f8b6d4-kw5rt\)/);
    expect(r.notChecked).toEqual([]);
  });

  it("reports when nothing else can take the pods, and what it could not check", async () => {
    await client.cordon("pi-3");
    await client.cordon("pi-1");
    api.setForbidden([{ verb: "list", resource: "persistentvolumes" }]);
    const r = await runPrecheck(client, "pi-2");
    expect(r.capacity.targets).toEqual([]);
    expect(r.warnings[0]).toBe("No other node is Ready and schedulable: the pods on pi-2 would have nowhere to go.");
    expect(r.notChecked[0]).toMatch(/^PersistentVolumes \(local volumes\): Forbidden/);
    await expect(runPrecheck(client, "pi-9")).rejects.toMatchObject({ code: "kube_not_found" });
  });
});
