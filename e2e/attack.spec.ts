import http from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { test, expect } from "@playwright/test";
import { startEmbeddedS3, type EmbeddedS3 } from "../lib/storage/embedded-s3";
import { S3BackupStore, listAll } from "../lib/storage";
import { makeTestServerDir } from "../agent/testing/test-server-dir";
import { treeState } from "../agent/testing/restore-fixtures";
import { backupWithCli, startAgent, type RunningAgent } from "./support/agent";
import { signIn } from "./support/auth";
import { startDashboard, type RunningDashboard } from "./support/dashboard";
import { startTestCluster, type TestCluster } from "./support/kube";
import { freePort } from "./support/ports";
import { stateChangingCalls } from "./support/routes";
import { keepScreenshot } from "./support/screenshot";

// An attacker's page, served from a second loopback origin (same host, another port: the same
// *site*, so the victim's SameSite=Lax session cookie goes along and only the dashboard's own checks
// stand in the way), opened in the browser of a signed-in admin. It tries every state-changing route
// under app/api — found on disk, so routes added later are attacked too — as a form post (text/plain
// and urlencoded), a text/plain fetch, a no-cors fetch, a JSON fetch (preflighted) and a beacon.
// Nothing may change: the agent's files and store, the test cluster, and lifeboat.db.

let work: string;
let s3: EmbeddedS3;
let agent: RunningAgent;
let cluster: TestCluster;
let dash: RunningDashboard;
let store: S3BackupStore;
let serverDir: string;
let agentState: string;
let setId = "";
const ids: Record<string, string> = {};

test.describe.configure({ mode: "serial" });

const asAdmin = async (method: string, p: string, body?: unknown) => {
  const r = await fetch(dash.url + p, {
    method,
    headers: { authorization: `Bearer ${dash.tokens.admin}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  expect(r.status, `${method} ${p}: ${await r.clone().text()}`).toBeLessThan(300);
  return r.json();
};

test.beforeAll(async ({}, testInfo) => {
  testInfo.setTimeout(300_000);
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-e2e-attack-"));
  s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["backups"] });
  const env = { AWS_S3_ENDPOINT: s3.endpoint, AWS_S3_BUCKET: "backups", AWS_S3_PATH: "k3s", AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" };
  store = new S3BackupStore({ endpoint: s3.endpoint, bucket: "backups", prefix: "k3s", accessKeyId: "S3RVER", secretAccessKey: "S3RVER", region: "us-east-1" });
  const server = makeTestServerDir(path.join(work, "k3s"), { targetBytes: 1_000_000, seed: 31 });
  serverDir = server.serverDir;
  agentState = path.join(work, "agent-state");
  const passphrase = path.join(work, "passphrase");
  writeFileSync(passphrase, "e2e attack passphrase\n", { mode: 0o400 });
  const agentEnv = {
    ...env,
    LIFEBOAT_K3S_SERVER_DIR: serverDir,
    LIFEBOAT_STATE_DIR: agentState,
    LIFEBOAT_PASSPHRASE_FILE: passphrase,
    LIFEBOAT_BACKUP_SCHEDULE: "off",
    LIFEBOAT_INTEGRITY_SCHEDULE: "off",
    // Status and stop/start of a k3s that is not running: nothing here may ever call them.
    LIFEBOAT_K3S_STATUS_CMD: "echo inactive",
    LIFEBOAT_K3S_STOP_CMD: "true",
    LIFEBOAT_K3S_START_CMD: "true",
    LOG_LEVEL: "warn",
  };
  setId = await backupWithCli(agentEnv);
  agent = await startAgent(agentEnv);
  cluster = await startTestCluster();
  dash = await startDashboard({ env: { ...env, ...agent.dashboardEnv, ...cluster.env } });
  // Real targets for the [id] routes, made the legitimate way before the attack. The first catalog
  // request starts the restore drills; the new set's drill runs and ends before anything is compared.
  await asAdmin("GET", "/api/backups");
  await expect.poll(async () => (await asAdmin("GET", `/api/backups/${setId}/verify`)).drill?.state, { timeout: 120_000 }).toBe("verified");
  ids.token = (await asAdmin("POST", "/api/tokens", { name: "victim script", role: "viewer" })).view.id;
  ids.migration = (await asAdmin("POST", "/api/worker-migrations", { node: "pi-2" })).id;
  ids.restore = (await asAdmin("POST", "/api/restore/runs")).id;
  // Disabled, so that no delivery to it changes lifeboat.db while the attack runs.
  ids.channel = (
    await asAdmin("POST", "/api/settings/notifications/channels", {
      label: "ops",
      enabled: false,
      settings: { type: "webhook", url: "https://ops.example/hook" },
    })
  ).id;
});

test.afterAll(async () => {
  await dash?.stop();
  await agent?.stop();
  await cluster?.stop();
  await s3?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A body that would do the route's work if the request got through (the attacker's best try). */
function bodyFor(method: string, p: string): unknown {
  if (p === "/api/users") return { name: "mallory", role: "admin", password: "mallory-password-1" };
  if (p.startsWith("/api/users/")) return method === "PATCH" ? { role: "admin", password: "mallory-password-2" } : {};
  if (p === "/api/tokens") return { name: "mallory", role: "admin" };
  if (p === "/api/auth/login") return { name: "viewer", password: dash.credentials.viewer.password };
  if (p === "/api/auth/password") return { current: dash.credentials.admin.password, next: "mallory-password-3" };
  if (/^\/api\/nodes\/[^/]+$/.test(p)) return { confirm: "pi-3" };
  if (p === "/api/worker-migrations") return { node: "pi-3" };
  if (p.startsWith("/api/worker-migrations/") && !p.endsWith("/token")) return { action: "abandon" };
  if (p.startsWith("/api/restore/runs/")) return { action: "abandon" };
  if (p.startsWith("/api/settings/notifications/channels"))
    return { label: "mallory", enabled: true, settings: { type: "webhook", url: "https://mallory.example/hook" } };
  return {};
}

/** The attacker's page: every call in every form a page on another origin can send, then `done` in the title. */
function attackPage(target: string, calls: { method: string; path: string }[]): string {
  const attempts = calls.map((c) => ({ ...c, url: target + c.path, body: JSON.stringify(bodyFor(c.method, c.path)) }));
  return `<!doctype html><title>attacking</title><body><script>
const attempts = ${JSON.stringify(attempts)};
const settle = (p) => p.then(() => "sent", (e) => "blocked: " + e.message);
const results = [];
let frames = 0;
function formPost(a, enctype) {
  return new Promise((resolve) => {
    const name = "f" + frames++;
    const iframe = document.createElement("iframe");
    iframe.name = name;
    iframe.style.display = "none";
    iframe.onload = () => resolve("loaded");
    document.body.appendChild(iframe);
    const form = document.createElement("form");
    form.method = "POST";
    form.action = a.url;
    form.target = name;
    form.enctype = enctype;
    const input = document.createElement("input");
    // text/plain sends name=value: a JSON body with its "=" hidden inside a string.
    input.name = a.body.slice(0, -1) + ',"x":"';
    input.value = '"}';
    form.appendChild(input);
    document.body.appendChild(form);
    form.submit();
    setTimeout(() => resolve("timeout"), 5000);
  });
}
(async () => {
  for (const a of attempts) {
    results.push(a.method + " " + a.path + " text/plain fetch: " + await settle(fetch(a.url, { method: a.method, credentials: "include", headers: { "content-type": "text/plain" }, body: a.body })));
    results.push(a.method + " " + a.path + " no-cors: " + await settle(fetch(a.url, { method: a.method, mode: "no-cors", credentials: "include", body: a.body })));
    results.push(a.method + " " + a.path + " json: " + await settle(fetch(a.url, { method: a.method, credentials: "include", headers: { "content-type": "application/json" }, body: a.body })));
    if (a.method === "POST") {
      results.push(a.method + " " + a.path + " beacon: " + navigator.sendBeacon(a.url, new Blob([a.body], { type: "text/plain" })));
      results.push(a.method + " " + a.path + " form text/plain: " + await formPost(a, "text/plain"));
      results.push(a.method + " " + a.path + " form urlencoded: " + await formPost(a, "application/x-www-form-urlencoded"));
    }
  }
  window.results = results;
  document.title = "done";
})();
</script>`;
}

function lifeboatDb(): Record<string, string[]> {
  const db = new Database(path.join(dash.dataDir, "lifeboat.db"), { readonly: true, fileMustExist: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[];
    return Object.fromEntries(
      tables.map((t) => [
        t,
        (db.prepare(`SELECT * FROM "${t}"`).all() as Record<string, unknown>[])
          .map((row) => {
            // When the session was last seen moves with any request the browser sends with its cookie.
            const { last_seen_at: _seen, ...rest } = row;
            return JSON.stringify(rest);
          })
          .sort(),
      ]),
    );
  } finally {
    db.close();
  }
}

const clusterState = () => ({
  nodes: [...cluster.api.cluster.nodes.values()].map((n) => ({ name: n.metadata.name, unschedulable: !!n.spec?.unschedulable })),
  pods: [...cluster.api.cluster.pods.keys()].sort(),
  history: [...cluster.api.cluster.history],
});

async function storeKeys(): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of listAll(store)) keys.push(`${o.key} ${o.size}`);
  return keys.sort();
}

test("a page on another origin cannot change anything through a signed-in admin's browser", async ({ page }, testInfo) => {
  testInfo.setTimeout(180_000);
  const calls = stateChangingCalls((route, name) => {
    if (name === "name") return route.startsWith("users") ? "viewer" : "pi-3";
    if (route.startsWith("backups")) return setId;
    if (route.startsWith("tokens")) return ids.token;
    if (route.startsWith("worker-migrations")) return ids.migration;
    if (route.startsWith("restore")) return ids.restore;
    if (route.startsWith("settings/notifications/channels")) return ids.channel;
    throw new Error(`no value for [${name}] in ${route}`);
  });
  expect(calls.length).toBeGreaterThanOrEqual(20);

  await signIn(page, dash, "admin");
  await page.goto(dash.url + "/backups");
  await expect(page.getByTestId("signed-in-as")).toHaveText("admin");
  const before = { db: lifeboatDb(), cluster: clusterState(), server: treeState(serverDir), agent: treeState(agentState), store: await storeKeys() };

  const port = await freePort();
  const attacker = http.createServer((_req, res) => res.writeHead(200, { "content-type": "text/html" }).end(attackPage(dash.url, calls)));
  await new Promise<void>((r) => attacker.listen(port, "127.0.0.1", () => r()));
  try {
    await page.goto(`http://127.0.0.1:${port}/`);
    await expect(page).toHaveTitle("done", { timeout: 150_000 });
    const results = (await page.evaluate(() => (window as unknown as { results: string[] }).results)) as string[];
    await testInfo.attach("attempts.txt", { body: results.join("\n"), contentType: "text/plain" });
    expect(results.length).toBeGreaterThanOrEqual(calls.length * 3);
  } finally {
    attacker.close();
  }
  // Give anything that did get through time to act (a drain, a backup job).
  await page.waitForTimeout(3000);

  expect(lifeboatDb()).toEqual(before.db);
  expect(clusterState()).toEqual(before.cluster);
  expect(treeState(serverDir)).toEqual(before.server);
  expect(treeState(agentState)).toEqual(before.agent);
  expect(await storeKeys()).toEqual(before.store);
  // The victim is still signed in: not even sign-out went through.
  await page.goto(dash.url + "/backups");
  await expect(page.getByTestId("signed-in-as")).toHaveText("admin");
  await keepScreenshot(page, testInfo, "attack-victim-still-signed-in");
});

/**
 * A POST that declares `body`'s full length but sends only its first 64 KiB, then waits for the answer
 * (a server that refuses by the declared length answers without reading the rest, and closes).
 */
function declaredBodyRequest(url: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname, method: "POST", headers: { ...headers, "content-length": String(body.length) } },
      (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () => {
          resolve({ status: res.statusCode ?? 0, body: text });
          req.destroy();
        });
      },
    );
    // After the answer, an error from the closed connection changes nothing (the promise is settled).
    req.on("error", reject);
    req.write(body.subarray(0, 65536));
  });
}

/** One raw HTTP/1.1 request with any Host header (fetch would not send a foreign one). */
function rawRequest(
  url: string,
  opts: { method?: string; host: string; headers?: Record<string, string>; body?: Buffer },
): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname, method: opts.method ?? "GET", headers: { host: opts.host, ...opts.headers } },
      (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

test("a foreign Host is refused (421), pages and API alike", async () => {
  for (const p of ["/backups", "/login", "/api/auth/me", "/api/worker-migrations/current"]) {
    const r = await rawRequest(dash.url + p, { host: "rebind.attacker.example:3000", headers: { authorization: `Bearer ${dash.tokens.admin}` } });
    expect([p, r.status]).toEqual([p, 421]);
    expect(r.body).toContain("does not answer to the host name");
  }
  expect(
    (await rawRequest(dash.url + "/api/auth/me", { host: new URL(dash.url).host, headers: { authorization: `Bearer ${dash.tokens.admin}` } })).status,
  ).toBe(200);
});

test("a 2 MB body gets 413 and changes nothing, declared or streamed", async () => {
  const before = lifeboatDb().users;
  const big = Buffer.from(JSON.stringify({ name: "bulky", role: "viewer", password: "x".repeat(2 * 1024 * 1024) }));
  const headers = { authorization: `Bearer ${dash.tokens.admin}`, "content-type": "application/json" };
  // Declared: the answer comes before the body is read. The client sends the head and the first 64 KiB
  // only — sending all of it raced the server closing the connection after its 413 (EPIPE, CI 2026-12-06).
  const declared = await declaredBodyRequest(dash.url + "/api/users", headers, big);
  expect(declared.status).toBe(413);
  expect(JSON.parse(declared.body).code).toBe("body_too_large");
  // Chunked: no Content-Length to refuse it by; the route stops reading past 1 MiB.
  const streamed = await fetch(dash.url + "/api/users", {
    method: "POST",
    headers,
    body: new ReadableStream({
      start(c) {
        for (let i = 0; i < 32; i++) c.enqueue(big.subarray(i * 65536, (i + 1) * 65536));
        c.close();
      },
    }),
    duplex: "half",
  } as RequestInit);
  expect(streamed.status).toBe(413);
  expect((await streamed.json()).code).toBe("body_too_large");
  expect(lifeboatDb().users).toEqual(before);
});
