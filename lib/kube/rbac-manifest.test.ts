import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import yaml from "js-yaml";
import { openDatabase, type Db } from "../db/database";
import { startTestKubeApi, type PolicyRule, type TestKubeApi } from "./testing/test-api-server";
import { seedHomelab } from "./simulator/scenarios";
import { makeNodeContext, type NodeContext } from "./context";
import { cordonNode, deleteNodeObject, fetchNodeDetail, fetchNodes, uncordonNode } from "./node-service";
import { act, startMigration, viewRun } from "./worker-migration";

/**
 * The shipped ClusterRole (deploy/kubernetes/target-cluster-rbac.yaml) is enough: the test API
 * server allows only its rules — anything else is 403, as kube-apiserver's RBAC authorizer answers —
 * and every node page action and the whole worker migration run through it. A verb the code needs
 * but the manifest lacks fails here; so does a rule the README lists that the manifest drops.
 */

const MANIFEST = path.resolve(import.meta.dirname, "../../deploy/kubernetes/target-cluster-rbac.yaml");
const fast = { backoffInitialMs: 100, backoffMaxMs: 300, pollMs: 50 };

function shippedRules(): PolicyRule[] {
  const docs = yaml.loadAll(readFileSync(MANIFEST, "utf8")) as { kind: string; rules?: PolicyRule[] }[];
  return docs.find((d) => d?.kind === "ClusterRole")!.rules!;
}

let api: TestKubeApi;
let db: Db;
let ctx: NodeContext;

beforeAll(async () => {
  api = await startTestKubeApi({
    rbac: shippedRules(),
    terminationGraceMs: 150,
    controllers: { replacementDelayMs: 100, readyDelayMs: 300 },
    podGcDelayMs: 50,
  });
  seedHomelab(api.cluster);
  db = openDatabase(mkdtempSync(path.join(tmpdir(), "lifeboat-rbac-")));
  ctx = makeNodeContext(
    db,
    { KUBECONFIG: api.kubeconfigPath, LIFEBOAT_K3S_TOKEN_FILE: undefined, LIFEBOAT_K3S_URL: undefined },
    { drainTiming: fast, timeoutMs: 3000 },
  );
});
afterAll(async () => {
  db?.close();
  await api?.stop();
});

const denied = (from: number) =>
  api.requests
    .slice(from)
    .filter((r) => r.status === 403)
    .map((r) => `${r.method} ${r.path}`);

describe("the shipped ClusterRole", () => {
  it("holds exactly the verbs README.md lists", () => {
    const readme = readFileSync(path.resolve(import.meta.dirname, "../../README.md"), "utf8").replace(/\s+/g, " ");
    expect(readme).toContain(
      "The dashboard's Kubernetes user needs: `get, list, patch, delete` on `nodes`; `get, list` on `pods`; `create` on `pods/eviction`; `list` on `poddisruptionbudgets` (policy), `persistentvolumes` and `persistentvolumeclaims`",
    );
    const flat = shippedRules().flatMap((r) => r.resources!.flatMap((res) => r.verbs.map((v) => `${r.apiGroups!.join()}/${res}:${v}`)));
    expect(flat.sort()).toEqual(
      [
        "/nodes:get",
        "/nodes:list",
        "/nodes:patch",
        "/nodes:delete",
        "/pods:get",
        "/pods:list",
        "/pods/eviction:create",
        "policy/poddisruptionbudgets:list",
        "/persistentvolumes:list",
        "/persistentvolumeclaims:list",
      ].sort(),
    );
  });

  it("is enforced by the test API server: what it does not allow is refused (403)", async () => {
    const call = (method: string, p: string) =>
      new Promise<number>((resolve, reject) => {
        const u = new URL(api.url + p);
        https
          .request({ method, host: u.hostname, port: u.port, path: u.pathname, ca: api.caPem, headers: { authorization: `Bearer ${api.token}` } }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on("error", reject)
          .end();
      });
    const pod = [...api.cluster.pods.values()][0].metadata;
    expect(await call("GET", "/api/v1/nodes")).toBe(200);
    // The role reads pods and evicts them; deleting one directly would skip the PodDisruptionBudget.
    expect(await call("DELETE", `/api/v1/namespaces/${pod.namespace}/pods/${pod.name}`)).toBe(403);
    expect(api.cluster.pods.has(`${pod.namespace}/${pod.name}`)).toBe(true);
  });

  it("lets the node pages and the whole worker migration run without a single 403", async () => {
    const from = api.requests.length;
    expect((await fetchNodes(ctx)).error).toBeNull();
    expect((await fetchNodeDetail(ctx, "pi-3")).pods.length).toBeGreaterThan(0);
    await cordonNode(ctx, "pi-3");
    await uncordonNode(ctx, "pi-3");

    let run = await startMigration(ctx, "pi-2");
    expect(run.state.precheck!.warnings.join(" ")).not.toMatch(/could not check|forbidden/i);
    run = await act(ctx, run.id, { action: "accept-precheck", acknowledgeWarnings: true });
    run = await act(ctx, run.id, { action: "cordon" });
    run = await act(ctx, run.id, { action: "drain", options: { deleteEmptyDirData: true, force: true, timeoutSeconds: 30 } });
    expect((await ctx.drains.settled(run.state.drainJobId!))!.state).toBe("succeeded");
    run = await act(ctx, run.id, { action: "drained" });
    run = await act(ctx, run.id, { action: "delete", confirm: "pi-2" });
    run = await act(ctx, run.id, { action: "joined" });
    api.cluster.registerNode({ name: "pi-4" }, 100);
    await new Promise((r) => setTimeout(r, 300));
    expect((await viewRun(ctx, run)).error).toBeNull();
    await deleteNodeObject(ctx, "pi-4");

    expect(denied(from)).toEqual([]);
    // Every kind of call the manifest allows was made (so the test covers the whole role).
    const seen = new Set(api.requests.map((r) => `${r.method} ${r.path.replace(/\?.*$/, "").replace(/\/(nodes|pods)\/[^/]+/, "/$1/:name")}`));
    for (const call of [
      "PATCH /api/v1/nodes/:name",
      "DELETE /api/v1/nodes/:name",
      "POST /api/v1/namespaces/default/pods/:name/eviction",
      "GET /api/v1/persistentvolumes",
    ])
      expect(
        [...seen].some((s) => s.endsWith(call.split(" ")[1]) && s.startsWith(call.split(" ")[0])),
        call,
      ).toBe(true);
  }, 60_000);
});
