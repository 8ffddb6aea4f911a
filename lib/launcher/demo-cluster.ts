// The demo cluster of `npm start` (called from start.ts): without KUBECONFIG, the demo's simulated
// k3s also gets a Kubernetes API (lib/kube/simulator/demo-cluster.ts: pi-1..pi-3 and a homelab
// workload over HTTPS), and the dashboard gets its kubeconfig in <data dir>/demo-cluster.
import { existsSync } from "node:fs";
import path from "node:path";
import { startDemoCluster, type DemoCluster } from "../kube/simulator/demo-cluster";

/** The address a new worker of the write-up's cluster joins (pi-1, the server), shown in the join command. */
const DEMO_K3S_URL = "https://192.168.1.11:6443";

export interface LauncherDemoCluster {
  cluster: DemoCluster;
  /** What the dashboard's environment gets: KUBECONFIG, LIFEBOAT_DEMO_CLUSTER, the join token file and server URL. */
  env: Record<string, string>;
}

/**
 * Starts the demo cluster for the data directory's demo server (<data dir>/demo/k3s/server) and
 * returns the dashboard's environment for it. Rejects when openssl is missing or the port is taken.
 */
export async function startLauncherDemoCluster(dataDir: string, env: { LIFEBOAT_K3S_URL?: string } = {}): Promise<LauncherDemoCluster> {
  const serverDir = path.join(dataDir, "demo", "k3s", "server");
  const cluster = await startDemoCluster({ dir: path.join(dataDir, "demo-cluster"), serverDir });
  const nodeToken = path.join(serverDir, "node-token");
  return {
    cluster,
    env: {
      KUBECONFIG: cluster.kubeconfigPath,
      LIFEBOAT_DEMO_CLUSTER: "1",
      LIFEBOAT_K3S_URL: env.LIFEBOAT_K3S_URL || DEMO_K3S_URL,
      ...(existsSync(nodeToken) ? { LIFEBOAT_K3S_TOKEN_FILE: nodeToken } : {}),
    },
  };
}
