import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startTestKubeApi, type TestKubeApi } from "./testing/test-api-server";
import { kubeconfigFingerprint, loadKubeConfig } from "./kube-config";
import { KubeClient } from "./kube-client";

/** KUBECONFIG=a:b merged with kubectl's rules: the first file to define a name wins, and the first current-context. */

let a: TestKubeApi;
let b: TestKubeApi;
let dir: string;
beforeAll(async () => {
  a = await startTestKubeApi({ contextName: "homelab" });
  b = await startTestKubeApi({ contextName: "office" });
  dir = mkdtempSync(path.join(tmpdir(), "lifeboat-kc-"));
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
});

const write = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text, { mode: 0o600 });
  return p;
};
/** What /etc/rancher/k3s/k3s.yaml looks like: cluster, context and user are all called "default". */
const k3s = (api: TestKubeApi, ctx: string) => api.kubeconfig.replaceAll(ctx, "default").replaceAll("lifeboat", "default");

describe("loadKubeConfig: KUBECONFIG with several files", () => {
  it("uses the first file's current-context, not the last one's", () => {
    const bFile = write("b-own-user.yaml", b.kubeconfig.replaceAll("lifeboat", "office-user"));
    const { cluster, kc } = loadKubeConfig(`${a.kubeconfigPath}:${bFile}`);
    expect(cluster).toMatchObject({ name: "homelab", server: a.url, context: "homelab", kubeconfigPath: `${a.kubeconfigPath}:${bFile}` });
    // The second file's entries are still there, to switch to.
    expect(kc.getContexts().map((c) => c.name)).toEqual(["homelab", "office"]);
    expect(kc.getUsers().map((u) => u.name)).toEqual(["lifeboat", "office-user"]);
  });

  it("merges two k3s kubeconfigs that name everything 'default': the first file's entries win, and calls go to its server", async () => {
    const ka = write("k3s-a.yaml", k3s(a, "homelab"));
    const kb = write("k3s-b.yaml", k3s(b, "office"));
    const { cluster, kc } = loadKubeConfig(`${ka}:${kb}`);
    expect(cluster).toMatchObject({ name: "default", server: a.url, context: "default" });
    expect(kc.getClusters()).toHaveLength(1);
    expect(kc.getCurrentUser()?.token).toBe(a.token);
    // The first file's cluster with the first file's user: the request reaches a, authenticated.
    expect(await KubeClient.fromKubeconfig(`${ka}:${kb}`, { timeoutMs: 3000 }).listNodes()).toEqual([]);
    expect(a.requests.some((r) => r.path === "/api/v1/nodes")).toBe(true);
    expect(b.requests.some((r) => r.path === "/api/v1/nodes")).toBe(false);
  });

  it("takes current-context from the first file that sets one, even when an earlier file has none", () => {
    const noCurrent = write("no-current.yaml", b.kubeconfig.replace(/^current-context: .*$/m, "").replaceAll("lifeboat", "office-user"));
    const { cluster } = loadKubeConfig(`${noCurrent}:${a.kubeconfigPath}`);
    expect(cluster).toMatchObject({ context: "homelab", server: a.url });
  });

  it("skips files that do not exist, and names the file that cannot be read", () => {
    expect(loadKubeConfig(`${path.join(dir, "missing")}:${a.kubeconfigPath}`).cluster.server).toBe(a.url);
    const bad = write("bad.yaml", "clusters: [\n");
    expect(() => loadKubeConfig(`${a.kubeconfigPath}:${bad}`)).toThrow(`Cannot read the kubeconfig ${bad}`);
  });
});

describe("kubeconfigFingerprint", () => {
  it("changes when a file is edited, created or KUBECONFIG changes, and only then", () => {
    const f = write("fp.yaml", a.kubeconfig);
    const missing = path.join(dir, "later.yaml");
    const env = `${f}:${missing}`;
    const fp = kubeconfigFingerprint(env);
    expect(kubeconfigFingerprint(env)).toBe(fp);
    writeFileSync(f, a.kubeconfig + "# edited\n");
    const edited = kubeconfigFingerprint(env);
    expect(edited).not.toBe(fp);
    writeFileSync(missing, b.kubeconfig);
    expect(kubeconfigFingerprint(env)).not.toBe(edited);
    expect(kubeconfigFingerprint(f)).not.toBe(kubeconfigFingerprint(env));
  });
});
