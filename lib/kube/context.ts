import "server-only";
import type { Db } from "../db/database";
import type { DashboardEnv } from "../env";
import { serverContext, singleton } from "../server/context";
import { DrainJobs } from "./drain-jobs";
import { KubeClient } from "./kube-client";
import { kubeconfigFingerprint } from "./kube-config";

/** What the node pages' server code needs; tests build one by hand around a temp database. */
export interface NodeContext {
  db: Db;
  env: Pick<DashboardEnv, "KUBECONFIG" | "LIFEBOAT_K3S_TOKEN_FILE" | "LIFEBOAT_K3S_URL"> & Partial<Pick<DashboardEnv, "LIFEBOAT_DEMO_CLUSTER">>;
  /** A client for the configured cluster; throws KubeError `not_configured` when there is none. */
  client(): KubeClient;
  drains: DrainJobs;
}

/**
 * Builds a context. `client()` keeps one client while the kubeconfig files stay the same (path,
 * inode, size, times: kubeconfigFingerprint), so an exec credential plugin's token is reused rather
 * than the plugin run again for every client; an edited or replaced file gives a new client.
 */
export function makeNodeContext(
  db: Db,
  env: NodeContext["env"],
  opts: { drainTiming?: ConstructorParameters<typeof DrainJobs>[2]; timeoutMs?: number } = {},
): NodeContext {
  let cached: { key: string; client: KubeClient } | null = null;
  const client = () => {
    const key = kubeconfigFingerprint(env.KUBECONFIG);
    if (cached?.key !== key) cached = { key, client: KubeClient.fromKubeconfig(env.KUBECONFIG, { timeoutMs: opts.timeoutMs }) };
    return cached.client;
  };
  return { db, env, client, drains: new DrainJobs(db, client, opts.drainTiming) };
}

/** The dashboard server's node context (one per process). */
export function nodeContext(): NodeContext {
  return singleton("nodeContext", () => {
    const { db, env } = serverContext();
    return makeNodeContext(db, env);
  });
}
