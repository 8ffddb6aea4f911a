import { writeFileSync } from "node:fs";
import path from "node:path";
import { startTestKubeApi, type TestKubeApi, type TestKubeApiOptions } from "../../lib/kube/testing/test-api-server";
import { seedHomelab } from "../../lib/kube/simulator/scenarios";

export interface TestCluster {
  api: TestKubeApi;
  /** The k3s join token written to the token file (to check it is shown only on reveal). */
  joinToken: string;
  /** Environment for startDashboard: KUBECONFIG and LIFEBOAT_K3S_TOKEN_FILE. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Starts the HTTPS test Kubernetes API (in the Playwright process) seeded with the three-Pi cluster
 * of the incident write-up, and writes a k3s join-token file next to its kubeconfig.
 */
export async function startTestCluster(opts: TestKubeApiOptions & { seed?: boolean } = {}): Promise<TestCluster> {
  const api = await startTestKubeApi({ terminationGraceMs: 800, controllers: { replacementDelayMs: 300, readyDelayMs: 4000 }, podGcDelayMs: 300, ...opts });
  if (opts.seed !== false) seedHomelab(api.cluster);
  const joinToken = "K10e2e0000000000000000000000000000000000000000000000000000000000e2e::server:e2e-join-secret-7f3a";
  const tokenFile = path.join(api.dir, "node-token");
  writeFileSync(tokenFile, joinToken + "\n", { mode: 0o600 });
  return { api, joinToken, env: { KUBECONFIG: api.kubeconfigPath, LIFEBOAT_K3S_TOKEN_FILE: tokenFile }, stop: () => api.stop() };
}
