import { describe, it, expect, beforeAll, afterAll } from "vitest";
import https from "node:https";
import { startTestKubeApi, type TestKubeApi } from "../testing/test-api-server";
import { restartControlPlane, seedHomelab } from "./scenarios";

/**
 * The test API server's own behaviour, checked over raw HTTPS (not through KubeClient) against what
 * kube-apiserver answers: status codes, Status bodies, selectors, patch content types, evictions.
 */

interface Answer {
  status: number;
  body: any;
}

function call(
  api: TestKubeApi,
  method: string,
  path: string,
  opts: { body?: unknown; contentType?: string; token?: string | null; ca?: string | null } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(api.url + path);
    const data = opts.body === undefined ? undefined : typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
    const req = https.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method,
        ca: opts.ca === null ? undefined : (opts.ca ?? api.caPem),
        headers: {
          accept: "application/json",
          ...(opts.token === null ? {} : { authorization: `Bearer ${opts.token ?? api.token}` }),
          ...(data !== undefined ? { "content-type": opts.contentType ?? "application/json", "content-length": Buffer.byteLength(data) } : {}),
        },
      },
      (res) => {
        let text = "";
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on("error", reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(fn: () => Promise<T> | T, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms; last value: ${JSON.stringify(v)}`);
    await sleep(50);
  }
}

describe("test Kubernetes API server", () => {
  let api: TestKubeApi;
  beforeAll(async () => {
    api = await startTestKubeApi({ terminationGraceMs: 150, controllers: { replacementDelayMs: 50, readyDelayMs: 300 }, podGcDelayMs: 50 });
    seedHomelab(api.cluster);
  });
  afterAll(() => api?.stop());

  it("serves HTTPS with its own CA and writes a kubeconfig that trusts it", async () => {
    await expect(call(api, "GET", "/api/v1/nodes", { ca: null })).rejects.toThrow(/self[- ]signed|unable to verify/i);
    expect(api.kubeconfig).toContain(`server: ${api.url}`);
    expect(api.kubeconfig).toContain(`certificate-authority-data: ${Buffer.from(api.caPem).toString("base64")}`);
    expect((await call(api, "GET", "/version")).body.gitVersion).toBe("v1.31.4+k3s1");
  });

  it("answers 401 with a Status body without the bearer token", async () => {
    for (const token of [null, "wrong"]) {
      const r = await call(api, "GET", "/api/v1/nodes", { token });
      expect(r.status).toBe(401);
      expect(r.body).toEqual({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "Unauthorized", reason: "Unauthorized", code: 401 });
    }
  });

  it("lists and gets nodes like kube-apiserver (list items carry no kind)", async () => {
    const list = await call(api, "GET", "/api/v1/nodes");
    expect(list.status).toBe(200);
    expect(list.body.kind).toBe("NodeList");
    expect(list.body.metadata.resourceVersion).toMatch(/^\d+$/);
    expect(list.body.items.map((n: { metadata: { name: string } }) => n.metadata.name)).toEqual(["pi-1", "pi-2", "pi-3"]);
    expect(list.body.items[0].kind).toBeUndefined();
    const one = await call(api, "GET", "/api/v1/nodes/pi-1");
    expect(one.body.kind).toBe("Node");
    expect(one.body.metadata.labels["node-role.kubernetes.io/control-plane"]).toBe("true");
    const byField = await call(api, "GET", "/api/v1/nodes?fieldSelector=metadata.name%3Dpi-3");
    expect(byField.body.items.map((n: { metadata: { name: string } }) => n.metadata.name)).toEqual(["pi-3"]);
  });

  it("answers 404 with a Status body naming the missing object", async () => {
    const r = await call(api, "GET", "/api/v1/nodes/pi-9");
    expect(r.status).toBe(404);
    expect(r.body).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'nodes "pi-9" not found',
      reason: "NotFound",
      details: { name: "pi-9", kind: "nodes" },
      code: 404,
    });
    const pdb = await call(api, "GET", "/apis/policy/v1/namespaces/default/poddisruptionbudgets/nope");
    expect(pdb.body.message).toBe('poddisruptionbudgets.policy "nope" not found');
    expect((await call(api, "GET", "/api/v1/widgets")).status).toBe(404);
    expect((await call(api, "PUT", "/api/v1/nodes/pi-1", { body: {} })).status).toBe(405);
  });

  it("filters pods by spec.nodeName and labels, and rejects unsupported field labels", async () => {
    const onPi2 = await call(api, "GET", "/api/v1/pods?fieldSelector=" + encodeURIComponent("spec.nodeName=pi-2"));
    const names = onPi2.body.items.map((p: { metadata: { name: string } }) => p.metadata.name);
    expect(names).toContain("web-7d4b9c6f5d-2xkqp");
    expect(names).not.toContain("postgres-0");
    expect(onPi2.body.items.every((p: { spec: { nodeName: string } }) => p.spec.nodeName === "pi-2")).toBe(true);
    const notPi2 = await call(api, "GET", "/api/v1/pods?fieldSelector=" + encodeURIComponent("spec.nodeName!=pi-2,metadata.namespace==default"));
    expect(notPi2.body.items.map((p: { metadata: { name: string } }) => p.metadata.name)).toEqual(["postgres-0"]);
    const web = await call(api, "GET", "/api/v1/namespaces/default/pods?labelSelector=" + encodeURIComponent("app in (web,redis),!missing"));
    expect(web.body.items).toHaveLength(3);
    const bad = await call(api, "GET", "/api/v1/pods?fieldSelector=spec.color%3Dred");
    expect(bad.status).toBe(400);
    expect(bad.body.message).toBe("field label not supported: spec.color");
    const page = await call(api, "GET", "/api/v1/pods?limit=2");
    expect(page.body.items).toHaveLength(2);
    const rest = await call(api, "GET", `/api/v1/pods?limit=100&continue=${page.body.metadata.continue}`);
    expect(rest.body.items.length + 2).toBe(api.cluster.pods.size);
  });

  it("applies strategic-merge, JSON-merge and JSON patches, and refuses other content types with 415", async () => {
    const smp = await call(api, "PATCH", "/api/v1/nodes/pi-3", {
      body: { spec: { unschedulable: true } },
      contentType: "application/strategic-merge-patch+json",
    });
    expect(smp.status).toBe(200);
    expect(smp.body.spec.unschedulable).toBe(true);
    // The node lifecycle controller taints cordoned nodes.
    expect((await call(api, "GET", "/api/v1/nodes/pi-3")).body.spec.taints).toEqual([
      expect.objectContaining({ key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" }),
    ]);
    const merge = await call(api, "PATCH", "/api/v1/nodes/pi-3", { body: { spec: { unschedulable: null } }, contentType: "application/merge-patch+json" });
    expect(merge.body.spec.unschedulable).toBeUndefined();
    expect(merge.body.spec.taints).toBeUndefined();
    const jp = await call(api, "PATCH", "/api/v1/nodes/pi-3", {
      body: [{ op: "add", path: "/metadata/labels/lifeboat~1test", value: "yes" }],
      contentType: "application/json-patch+json",
    });
    expect(jp.body.metadata.labels["lifeboat/test"]).toBe("yes");
    const failedTest = await call(api, "PATCH", "/api/v1/nodes/pi-3", {
      body: [{ op: "test", path: "/spec/unschedulable", value: true }],
      contentType: "application/json-patch+json",
    });
    expect(failedTest.status).toBe(422);

    // The difference between the two merge flavours: lists with a merge key merge element-wise
    // under strategic merge, and are replaced whole under JSON merge.
    const cond = { status: { conditions: [{ type: "DiskPressure", status: "True" }] } };
    const s2 = await call(api, "PATCH", "/api/v1/nodes/pi-3", { body: cond, contentType: "application/strategic-merge-patch+json" });
    expect(s2.body.status.conditions).toHaveLength(4);
    expect(s2.body.status.conditions.find((c: { type: string }) => c.type === "DiskPressure").status).toBe("True");
    const m2 = await call(api, "PATCH", "/api/v1/nodes/pi-3", { body: cond, contentType: "application/merge-patch+json" });
    expect(m2.body.status.conditions).toEqual([{ type: "DiskPressure", status: "True" }]);

    const wrong = await call(api, "PATCH", "/api/v1/nodes/pi-3", { body: { spec: {} }, contentType: "application/json" });
    expect(wrong.status).toBe(415);
    expect(wrong.body.reason).toBe("UnsupportedMediaType");
    expect((await call(api, "PATCH", "/api/v1/nodes/pi-9", { body: {}, contentType: "application/merge-patch+json" })).status).toBe(404);
    expect(api.requests.filter((r) => r.method === "PATCH").map((r) => r.contentType)).toContain("application/strategic-merge-patch+json");
  });

  it("refuses an eviction with 429 while the PodDisruptionBudget would be violated, then allows it", async () => {
    // Cordon pi-2 so the replacement lands on another node.
    await call(api, "PATCH", "/api/v1/nodes/pi-2", { body: { spec: { unschedulable: true } }, contentType: "application/strategic-merge-patch+json" });
    const pdb = await call(api, "GET", "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web");
    expect(pdb.body.status).toMatchObject({ currentHealthy: 2, desiredHealthy: 1, disruptionsAllowed: 1, expectedPods: 2 });

    const evict = (name: string) =>
      call(api, "POST", `/api/v1/namespaces/default/pods/${name}/eviction`, {
        body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name, namespace: "default" } },
      });
    const first = await evict("web-7d4b9c6f5d-2xkqp");
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", code: 201 });
    const terminating = await call(api, "GET", "/api/v1/namespaces/default/pods/web-7d4b9c6f5d-2xkqp");
    expect(terminating.body.metadata.deletionTimestamp).toBeTruthy();

    const blocked = await evict("web-7d4b9c6f5d-r8m4s");
    expect(blocked.status).toBe(429);
    expect(blocked.body).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "Cannot evict pod as it would violate the pod's disruption budget.",
      reason: "TooManyRequests",
      details: { causes: [{ reason: "DisruptionBudget", message: "The disruption budget web needs 1 healthy pods and has 1 currently" }] },
      code: 429,
    });

    // The evicted pod disappears after its grace period; its replacement becomes Ready elsewhere.
    await until(
      () => call(api, "GET", "/api/v1/namespaces/default/pods/web-7d4b9c6f5d-2xkqp"),
      (r) => r.status === 404,
    );
    const replacement = await until(
      () => call(api, "GET", "/api/v1/pods?labelSelector=app%3Dweb"),
      (r) => r.body.items.some((p: { spec: { nodeName: string }; status: { phase: string } }) => p.spec.nodeName !== "pi-2" && p.status.phase === "Running"),
    );
    expect(replacement.body.items.find((p: { spec: { nodeName: string } }) => p.spec.nodeName !== "pi-2").spec.nodeName).toMatch(/^pi-[13]$/);
    expect((await evict("web-7d4b9c6f5d-r8m4s")).status).toBe(201);
    expect((await evict("no-such-pod")).status).toBe(404);
    const mismatch = await call(api, "POST", "/api/v1/namespaces/default/pods/redis-6f8d5b7c9-tm2vw/eviction", {
      body: { kind: "Eviction", metadata: { name: "other" } },
    });
    expect(mismatch.status).toBe(400);
  });

  it("refuses evictions covered by two budgets with 500, as the eviction subresource does", async () => {
    api.cluster.addPdb({ name: "redis-a", selector: { matchLabels: { app: "redis" } }, maxUnavailable: 1 });
    api.cluster.addPdb({ name: "redis-b", selector: { matchExpressions: [{ key: "app", operator: "In", values: ["redis"] }] }, maxUnavailable: 1 });
    const r = await call(api, "POST", "/api/v1/namespaces/default/pods/redis-6f8d5b7c9-tm2vw/eviction", {
      body: { kind: "Eviction", metadata: { name: "redis-6f8d5b7c9-tm2vw" } },
    });
    expect(r.status).toBe(500);
    expect(r.body.message).toMatch(/more than one PodDisruptionBudget/);
    api.cluster.pdbs.delete("default/redis-b");
  });

  it("answers 403 like RBAC for a configured forbidden verb, and only for it", async () => {
    api.setForbidden([
      { verb: "delete", resource: "nodes" },
      { verb: "create", resource: "pods/eviction" },
    ]);
    try {
      const del = await call(api, "DELETE", "/api/v1/nodes/pi-3");
      expect(del.status).toBe(403);
      expect(del.body).toEqual({
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message:
          'nodes "pi-3" is forbidden: User "system:serviceaccount:lifeboat:dashboard" cannot delete resource "nodes" in API group "" at the cluster scope',
        reason: "Forbidden",
        details: { name: "pi-3", kind: "nodes" },
        code: 403,
      });
      const ev = await call(api, "POST", "/api/v1/namespaces/default/pods/debug-shell/eviction", {
        body: { kind: "Eviction", metadata: { name: "debug-shell" } },
      });
      expect(ev.status).toBe(403);
      expect(ev.body.message).toContain('cannot create resource "pods/eviction" in API group "" in the namespace "default"');
      expect((await call(api, "GET", "/api/v1/nodes/pi-3")).status).toBe(200);
    } finally {
      api.setForbidden([]);
    }
  });

  it("deletes a node with a Success Status and garbage-collects its pods", async () => {
    const uid = (await call(api, "GET", "/api/v1/nodes/pi-2")).body.metadata.uid;
    const del = await call(api, "DELETE", "/api/v1/nodes/pi-2");
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details: { name: "pi-2", kind: "nodes", uid } });
    expect((await call(api, "GET", "/api/v1/nodes/pi-2")).status).toBe(404);
    expect((await call(api, "DELETE", "/api/v1/nodes/pi-2")).status).toBe(404);
    await until(
      () => call(api, "GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dpi-2"),
      (r) => r.body.items.length === 0,
    );
  });

  it("registers a new node that turns Ready and receives DaemonSet pods", async () => {
    api.cluster.registerNode({ name: "pi-4", internalIP: "192.168.1.14", kubeletVersion: "v1.32.1+k3s1" }, 200);
    const fresh = await call(api, "GET", "/api/v1/nodes/pi-4");
    expect(fresh.body.status.conditions.find((c: { type: string }) => c.type === "Ready").status).toBe("False");
    await until(
      () => call(api, "GET", "/api/v1/nodes/pi-4"),
      (r) => r.body.status.conditions.find((c: { type: string }) => c.type === "Ready").status === "True",
    );
    const pods = await until(
      () => call(api, "GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dpi-4"),
      (r) => r.body.items.length > 0,
    );
    expect(pods.body.items[0].metadata.ownerReferences[0].kind).toBe("DaemonSet");
  });

  it("turns every node Unknown with the unreachable taints when the control plane restarts, then Ready one by one", async () => {
    const ready = (node: any) => node.status.conditions.find((c: { type: string }) => c.type === "Ready");
    restartControlPlane(api.cluster, { readyAfterMs: 300, staggerMs: 300 });
    const down = (await call(api, "GET", "/api/v1/nodes")).body.items;
    for (const n of down) {
      expect(ready(n)).toMatchObject({ status: "Unknown", reason: "NodeStatusUnknown", message: "Kubelet stopped posting node status." });
      expect(n.spec.taints).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ key: "node.kubernetes.io/unreachable", effect: "NoSchedule" }),
          expect.objectContaining({ key: "node.kubernetes.io/unreachable", effect: "NoExecute" }),
        ]),
      );
    }
    // The first back while the others are still Unknown, then all of them, their taints gone.
    const partly = await until(
      () => call(api, "GET", "/api/v1/nodes"),
      (r) => r.body.items.some((n: any) => ready(n).status === "True"),
    );
    expect(partly.body.items.some((n: any) => ready(n).status === "Unknown")).toBe(true);
    const back = await until(
      () => call(api, "GET", "/api/v1/nodes"),
      (r) => r.body.items.every((n: any) => ready(n).status === "True"),
    );
    for (const n of back.body.items) expect((n.spec.taints ?? []).filter((t: { key: string }) => t.key.startsWith("node.kubernetes.io/unreach"))).toEqual([]);
  });
});
