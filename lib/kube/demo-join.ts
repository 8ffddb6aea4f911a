import "server-only";
import https from "node:https";
import { DomainError } from "../contracts/errors";
import { DEMO_JOIN_PATH } from "../contracts/nodes";
import { audit } from "../db/database";
import type { NodeContext } from "./context";
import { translateKubeError } from "./errors";
import { loadKubeConfig } from "./kube-config";
import { act, getRun, type Run } from "./worker-migration";

/**
 * The worker-migration wizard's demo action: on `npm start`'s demo cluster (LIFEBOAT_DEMO_CLUSTER,
 * set by lib/launcher/demo-cluster.ts) there is no machine to run the join command on, so the
 * dashboard asks the simulated API server to register a new Raspberry Pi instead — the one call
 * no real cluster has (lib/kube/simulator/demo-cluster.ts) — and moves the wizard on to waiting
 * for it, exactly as "I ran it" does. The new node then turns Ready by itself.
 */

const TIMEOUT_MS = 10_000;

/** POSTs the simulator's join call with the kubeconfig's credentials; resolves with the new node's name. Rejects with KubeError. */
async function postJoin(kubeconfig: string | undefined): Promise<string> {
  const { kc, cluster } = loadKubeConfig(kubeconfig);
  const url = new URL(DEMO_JOIN_PATH, cluster.server);
  const opts: https.RequestOptions = { method: "POST", hostname: url.hostname, port: url.port, path: url.pathname, timeout: TIMEOUT_MS };
  await kc.applyToHTTPSOptions(opts);
  const ctx = { verb: "create", resource: "nodes", cluster: cluster.name, server: cluster.server, timeoutMs: TIMEOUT_MS };
  try {
    return await new Promise<string>((resolve, reject) => {
      const req = https.request(opts, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => {
          let body: unknown = null;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON: the status alone says it
          }
          // Shaped like the client library's ApiException, so translateKubeError words it the same way.
          if (res.statusCode !== 201) return reject({ code: res.statusCode ?? 0, body });
          resolve(String((body as { metadata?: { name?: string } } | null)?.metadata?.name ?? "a new node"));
        });
      });
      req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { name: "AbortError" })));
      req.on("error", reject);
      req.end();
    });
  } catch (err) {
    throw translateKubeError(err, ctx);
  }
}

/**
 * Registers a new node on the demo cluster and moves the run from "join" to "wait". Throws
 * DomainError `not_demo_cluster` off the demo cluster, `wrong_step` outside join/wait, and KubeErrors.
 */
export async function demoJoin(ctx: NodeContext, id: string): Promise<Run> {
  if (!ctx.env.LIFEBOAT_DEMO_CLUSTER)
    throw new DomainError(
      "not_demo_cluster",
      "This is not the demo cluster, so there is no demo join: run the join command on the new machine, then press “I ran it — wait for the new node”.",
    );
  const run = getRun(ctx, id);
  if (run.status !== "active" || !["join", "wait"].includes(run.step))
    throw new DomainError("wrong_step", "The demo join is only offered at the join step of an active migration.");
  const name = await postJoin(ctx.env.KUBECONFIG);
  audit(ctx.db, "worker-migration.demo-join", name, "ok", { runId: run.id, replaces: run.state.node });
  return run.step === "join" ? act(ctx, id, { action: "joined" }) : getRun(ctx, id);
}
