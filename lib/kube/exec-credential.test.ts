import { describe, it, expect, beforeEach, afterEach } from "vitest";
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startTestKubeApi, type TestKubeApi } from "./testing/test-api-server";
import { seedHomelab } from "./simulator/scenarios";
import { KubeClient } from "./kube-client";
import { drainNode } from "./drain";
import { fetchNodes } from "./node-service";
import { makeNodeContext } from "./context";
import { translateKubeError, type KubeError } from "./errors";
import { openDatabase, type Db } from "../db/database";
import { DrainOptions } from "../contracts/nodes";

/** Kubeconfig users with an `exec:` credential plugin (real shell scripts) against the HTTPS test API server. */

const fast = { backoffInitialMs: 100, backoffMaxMs: 300, pollMs: 50 };
/** Settles `p` or gives up after `ms` (so a test of a hang fails instead of hanging). */
const within = <T>(p: Promise<T>, ms: number) =>
  Promise.race([
    p.then(
      (v) => ({ done: true as const, v }),
      (e: unknown) => ({ done: true as const, e }),
    ),
    new Promise<{ done: false }>((r) => setTimeout(() => r({ done: false }), ms)),
  ]);

let api: TestKubeApi;
let dir: string;
let db: Db;
beforeEach(async () => {
  api = await startTestKubeApi({ terminationGraceMs: 150, controllers: { replacementDelayMs: 100, readyDelayMs: 700 }, podGcDelayMs: 50 });
  seedHomelab(api.cluster);
  dir = mkdtempSync(path.join(tmpdir(), "lifeboat-exec-"));
  db = openDatabase(dir);
});
afterEach(() => api?.stop());

/** The test server's kubeconfig with its token replaced by the exec plugin `command`. */
function execKubeconfig(command: string, name = "kubeconfig-exec"): string {
  const kc = api.kubeconfig.replace(
    `    token: ${api.token}`,
    ["    exec:", "      apiVersion: client.authentication.k8s.io/v1beta1", `      command: ${command}`, "      interactiveMode: Never"].join("\n"),
  );
  const p = path.join(dir, name);
  writeFileSync(p, kc, { mode: 0o600 });
  return p;
}
function plugin(script: string): string {
  const p = path.join(dir, "plugin.sh");
  writeFileSync(p, `#!/bin/sh\n${script}\n`);
  chmodSync(p, 0o755);
  return p;
}
/** A plugin that prints the server's token, counting its runs in `count`. */
function countingPlugin(count: string, expiration: string | null): string {
  const status = { token: api.token, ...(expiration ? { expirationTimestamp: expiration } : {}) };
  const out = JSON.stringify({ apiVersion: "client.authentication.k8s.io/v1beta1", kind: "ExecCredential", status });
  return plugin(`echo run >> ${count}\ncat <<'JSON'\n${out}\nJSON`);
}
const runs = (count: string) => (existsSync(count) ? readFileSync(count, "utf8").trim().split("\n").length : 0);
const env = (KUBECONFIG: string) => ({ KUBECONFIG, LIFEBOAT_K3S_TOKEN_FILE: undefined, LIFEBOAT_K3S_URL: undefined });
/** Running (a zombie waiting for a reaper that is not Node counts as gone). */
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
};

describe("exec credential plugins", () => {
  it("a plugin that never returns: GET /api/nodes answers within the time limit, with the last good list, and the plugin is killed", async () => {
    // A good refresh first, with the token: the list the answer falls back to.
    expect((await fetchNodes(makeNodeContext(db, env(api.kubeconfigPath), { timeoutMs: 2000 }))).nodes).toHaveLength(3);
    const pids = path.join(dir, "pids");
    const kc = execKubeconfig(plugin(`echo $$ >> ${pids}\nsleep 30 &\necho $! >> ${pids}\nwait`));
    const t0 = Date.now();
    const r = await within(fetchNodes(makeNodeContext(db, env(kc), { timeoutMs: 1000 })), 5000);
    expect(r.done).toBe(true);
    expect(Date.now() - t0).toBeLessThan(3000);
    const res = (r as { v: Awaited<ReturnType<typeof fetchNodes>> }).v;
    expect(res).toMatchObject({ live: false, error: { code: "unreachable" } });
    expect(res.nodes).toHaveLength(3);
    expect(res.error!.message).toContain(`credential plugin "${path.join(dir, "plugin.sh")}"`);
    expect(res.error!.message).toContain("within 1 s");
    // The script and its child (its own process group) are gone, not left running.
    const [sh, sleeper] = readFileSync(pids, "utf8").trim().split("\n").map(Number);
    for (let i = 0; i < 20 && (alive(sh) || alive(sleeper)); i++) await new Promise((r) => setTimeout(r, 50));
    expect([alive(sh), alive(sleeper)]).toEqual([false, false]);
  }, 20_000);

  it("a plugin that never returns: a drain ends by its timeout", async () => {
    const client = KubeClient.fromKubeconfig(execKubeconfig(plugin("sleep 30")), { timeoutMs: 1000 });
    const options = DrainOptions.parse({ timeoutSeconds: 5, force: true, deleteEmptyDirData: true });
    const r = await within(drainNode("pi-2", options, { client, timing: fast }), 10_000);
    expect(r.done).toBe(true);
    expect((r as { v: { state: string; message: string } }).v).toMatchObject({ state: "failed", message: expect.stringContaining("credential plugin") });
  }, 20_000);

  it("runs the plugin once per token, not per call or per refresh; an edited kubeconfig runs it again", async () => {
    const count = path.join(dir, "count");
    const kc = execKubeconfig(countingPlugin(count, new Date(Date.now() + 3600_000).toISOString()));
    const ctx = makeNodeContext(db, env(kc), { timeoutMs: 3000 });
    for (let i = 0; i < 3; i++) expect(await fetchNodes(ctx)).toMatchObject({ live: true, error: null });
    await ctx.client().listPods();
    expect(runs(count)).toBe(1);
    writeFileSync(kc, readFileSync(kc, "utf8") + "# edited\n");
    expect((await fetchNodes(ctx)).live).toBe(true);
    expect(runs(count)).toBe(2);
  }, 20_000);

  it("an expired token is renewed; one without expirationTimestamp is kept", async () => {
    const count = path.join(dir, "count");
    const expired = makeNodeContext(db, env(execKubeconfig(countingPlugin(count, new Date(Date.now() - 1000).toISOString()))), { timeoutMs: 3000 });
    await fetchNodes(expired);
    await fetchNodes(expired);
    expect(runs(count)).toBe(2); // once per refresh: its two concurrent calls share the run
    const count2 = path.join(dir, "count2");
    const forever = makeNodeContext(db, env(execKubeconfig(countingPlugin(count2, null), "kc2")), { timeoutMs: 3000 });
    for (let i = 0; i < 3; i++) expect((await fetchNodes(forever)).live).toBe(true);
    expect(runs(count2)).toBe(1);
  }, 20_000);

  it("a plugin that is not installed is named, and the server is not blamed", async () => {
    const kc = execKubeconfig("/nonexistent/aws-iam-authenticator");
    const e = await KubeClient.fromKubeconfig(kc, { timeoutMs: 2000 })
      .listNodes()
      .then(
        () => expect.fail("listNodes resolved"),
        (x: unknown) => x as KubeError,
      );
    expect(e.kubeCode).toBe("not_configured");
    expect(e.message).toContain('credential plugin "/nonexistent/aws-iam-authenticator" (user "lifeboat") could not be started');
    expect(e.message).toContain("not installed");
    expect(e.message).not.toMatch(/Cannot reach|k3s server is running/);
    const res = await fetchNodes(makeNodeContext(db, env(kc), { timeoutMs: 2000 }));
    expect(res).toMatchObject({ live: false, error: { code: "not_configured" } });
  });

  it("a failing plugin: unauthorized, naming it, without its output", async () => {
    const kc = execKubeconfig(plugin("echo 'secret-ish detail' >&2\nexit 3"));
    const e = await KubeClient.fromKubeconfig(kc, { timeoutMs: 2000 })
      .listNodes()
      .then(
        () => expect.fail("listNodes resolved"),
        (x: unknown) => x as KubeError,
      );
    expect(e.kubeCode).toBe("unauthorized");
    expect(e.message).toContain("exit code 3");
    expect(e.message).not.toContain("secret-ish");
  });
});

describe("translateKubeError: system error codes", () => {
  const ctx = { verb: "list", resource: "nodes", cluster: "c", server: "https://s:6443", timeoutMs: 10_000 };
  it("a spawn failure (client-node's own exec authenticator) names the plugin", () => {
    const err = Object.assign(new Error("spawn /opt/bin/kubelogin ENOENT"), {
      code: "ENOENT",
      errno: -2,
      syscall: "spawn /opt/bin/kubelogin",
      path: "/opt/bin/kubelogin",
    });
    const e = translateKubeError(err, ctx);
    expect(e.kubeCode).toBe("not_configured");
    expect(e.message).toContain('credential plugin "/opt/bin/kubelogin"');
    expect(e.message).not.toContain("k3s server is running");
  });
  it("network codes stay unreachable; a file error is not called a network error", () => {
    expect(translateKubeError(Object.assign(new Error("x"), { code: "ECONNREFUSED", type: "system" }), ctx).kubeCode).toBe("unreachable");
    const file = translateKubeError(Object.assign(new Error("open /x/ca.crt"), { code: "ENOENT", syscall: "open" }), ctx);
    expect(file.kubeCode).toBe("other");
    expect(file.message).not.toContain("Cannot reach");
  });
});
