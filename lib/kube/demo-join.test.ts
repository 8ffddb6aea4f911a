import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openDatabase, type Db } from "../db/database";
import { startTestKubeApi, type TestKubeApi } from "./testing/test-api-server";
import { seedHomelab } from "./simulator/scenarios";
import { makeNodeContext } from "./context";
import { demoJoin } from "./demo-join";
import { act, startMigration } from "./worker-migration";
import { DEMO_JOIN_PATH } from "../contracts/nodes";

/**
 * The demo join action's refusals (its happy path runs in e2e/demo-cluster.spec.ts against npm
 * start's demo cluster): off the demo cluster it is refused before anything is called, and on the
 * demo cluster only at the join step — in both cases no node registers.
 */

let api: TestKubeApi;
let db: Db;
let joinCalls = 0;

beforeAll(async () => {
  api = await startTestKubeApi({
    extraRoutes: (req) => {
      if (req.url.pathname !== DEMO_JOIN_PATH) return null;
      joinCalls++;
      return { status: 201, body: api.cluster.registerNode({ name: "pi-9" }, 100) };
    },
  });
  seedHomelab(api.cluster);
  db = openDatabase(mkdtempSync(path.join(tmpdir(), "lifeboat-demo-join-")));
});
afterAll(async () => {
  db?.close();
  await api?.stop();
});

describe("demoJoin", () => {
  it("is refused off the demo cluster (not_demo_cluster), and the simulator is never called", async () => {
    const ctx = makeNodeContext(db, { KUBECONFIG: api.kubeconfigPath, LIFEBOAT_K3S_TOKEN_FILE: undefined, LIFEBOAT_K3S_URL: undefined });
    const run = await startMigration(ctx, "pi-3");
    await expect(demoJoin(ctx, run.id)).rejects.toMatchObject({ code: "not_demo_cluster" });
    expect(joinCalls).toBe(0);
    await act(ctx, run.id, { action: "abandon" });
  });

  it("is refused before the join step (wrong_step): no node registers", async () => {
    const ctx = makeNodeContext(db, {
      KUBECONFIG: api.kubeconfigPath,
      LIFEBOAT_K3S_TOKEN_FILE: undefined,
      LIFEBOAT_K3S_URL: undefined,
      LIFEBOAT_DEMO_CLUSTER: "1",
    });
    const run = await startMigration(ctx, "pi-3");
    await expect(demoJoin(ctx, run.id)).rejects.toMatchObject({ code: "wrong_step" });
    expect(joinCalls).toBe(0);
    expect(api.cluster.nodes.has("pi-9")).toBe(false);
    await act(ctx, run.id, { action: "abandon" });
  });
});
