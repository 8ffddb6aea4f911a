import "server-only";
import type { Db } from "../db/database";
import type { DashboardEnv } from "../env";
import { serverContext, singleton } from "../server/context";
import { DrainJobs } from "./drain-jobs";
import { KubeClient } from "./kube-client";

/** What the node pages' server code needs; tests build one by hand around a temp database. */
export interface NodeContext {
  db: Db;
  env: Pick<DashboardEnv, "KUBECONFIG" | "LIFEBOAT_K3S_TOKEN_FILE" | "LIFEBOAT_K3S_URL"> & Partial<Pick<DashboardEnv, "LIFEBOAT_DEMO_CLUSTER">>;
  /** A client for the configured cluster; throws KubeError `not_configured` when there is none. */
  client(): KubeClient;
  drains: DrainJobs;
}

/** Builds a context (the kubeconfig is read on each `client()` call, so edits take effect). */
export function makeNodeContext(
  db: Db,
  env: NodeContext["env"],
  opts: { drainTiming?: ConstructorParameters<typeof DrainJobs>[2]; timeoutMs?: number } = {},
): NodeContext {
  const client = () => KubeClient.fromKubeconfig(env.KUBECONFIG, { timeoutMs: opts.timeoutMs });
  return { db, env, client, drains: new DrainJobs(db, client, opts.drainTiming) };
}

/** The dashboard server's node context (one per process). */
export function nodeContext(): NodeContext {
  return singleton("nodeContext", () => {
    const { db, env } = serverContext();
    return makeNodeContext(db, env);
  });
}
