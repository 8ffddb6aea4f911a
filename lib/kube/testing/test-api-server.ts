import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startKubeApiServer, type KubeApiServer, type KubeApiServerOptions } from "../simulator/api-server";

export type { ForbiddenRule, PolicyRule, RequestRecord } from "../simulator/api-server";

/** The simulated API server as tests use it: a temporary directory (removed by stop), a random port. */
export type TestKubeApi = KubeApiServer;
export type TestKubeApiOptions = Omit<KubeApiServerOptions, "dir" | "removeDirOnStop">;

/** Starts the simulated Kubernetes API (lib/kube/simulator/) on 127.0.0.1 with a fresh CA and kubeconfig in a temporary directory. */
export function startTestKubeApi(opts: TestKubeApiOptions = {}): Promise<TestKubeApi> {
  return startKubeApiServer({ ...opts, dir: mkdtempSync(path.join(tmpdir(), "lifeboat-kube-")), removeDirOnStop: true });
}
