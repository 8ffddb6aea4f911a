import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFile, spawnSync } from "node:child_process";
import { startTestKubeApi, type TestKubeApi } from "../testing/test-api-server";
import { seedHomelab } from "./scenarios";

/**
 * The strongest check that the test API server answers like the real one: the real `kubectl`
 * (a client we did not write) cordons, drains — retrying through a PodDisruptionBudget refusal —
 * and deletes a node on it. Checked with Debian bookworm's kubernetes-client (kubectl 1.20, what
 * `.ci/run` installs) and kubectl 1.32. Skipped where kubectl is not installed, except under CI,
 * where a missing kubectl fails it rather than letting the cross-check vanish.
 */
const hasKubectl = spawnSync("kubectl", ["version", "--client"], { stdio: "ignore" }).status === 0;

describe.skipIf(!hasKubectl && !process.env.CI)("kubectl against the test API server", () => {
  let api: TestKubeApi;
  const kubectl = (...args: string[]) =>
    new Promise<{ code: number; out: string }>((resolve) =>
      // async: the server answers from this same process
      execFile("kubectl", ["--kubeconfig", api.kubeconfigPath, ...args], { encoding: "utf8", timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
      ),
    );

  beforeAll(async () => {
    if (!hasKubectl) throw new Error("kubectl is not installed, and CI is set: apt-get install kubernetes-client (.ci/run does).");
    api = await startTestKubeApi({ terminationGraceMs: 200, controllers: { replacementDelayMs: 100, readyDelayMs: 500 } });
    seedHomelab(api.cluster);
  });
  afterAll(() => api?.stop());

  it("lists, cordons, drains through a PDB refusal and deletes a node", async () => {
    expect((await kubectl("get", "nodes", "-o", "name")).out.trim().split("\n")).toEqual(["node/pi-1", "node/pi-2", "node/pi-3"]);

    expect((await kubectl("cordon", "pi-2")).out).toContain("node/pi-2 cordoned");
    expect(api.cluster.nodes.get("pi-2")!.spec.unschedulable).toBe(true);

    // Without the explicit choices kubectl refuses before evicting anything.
    const refused = await kubectl("drain", "pi-2", "--ignore-daemonsets", "--timeout=30s");
    expect(refused.code).not.toBe(0);
    expect(refused.out).toMatch(/cannot delete Pods (declare no controller|with local storage)/);
    expect(api.requests.some((r) => r.path.endsWith("/eviction"))).toBe(false);

    const drained = await kubectl("drain", "pi-2", "--ignore-daemonsets", "--delete-emptydir-data", "--force", "--timeout=40s");
    expect(drained.code, drained.out).toBe(0);
    expect(drained.out).toContain("would violate the pod's disruption budget");
    // kubectl 1.20 ends with "node/pi-2 evicted", later ones with "node/pi-2 drained".
    expect(drained.out).toMatch(/node\/pi-2 (drained|evicted)\n/);
    const left = [...api.cluster.pods.values()].filter((p) => p.spec.nodeName === "pi-2");
    expect(left.map((p) => p.metadata.ownerReferences?.[0].kind)).toEqual(["DaemonSet"]);
    const evictions = api.requests.filter((r) => r.path.endsWith("/eviction")).map((r) => r.status);
    expect(evictions).toContain(429);
    expect(evictions.filter((s) => s === 201)).toHaveLength(5);

    expect((await kubectl("delete", "node", "pi-2")).out).toContain('node "pi-2" deleted');
    expect(api.cluster.nodes.has("pi-2")).toBe(false);
  }, 90_000);
});
