import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROLES, type Role } from "../../lib/contracts/auth";
import { killGroup, startProcess, waitForHttp } from "../../lib/process";
import { freePort } from "./ports";

export interface Credentials {
  name: string;
  password: string;
}

export interface RunningDashboard {
  url: string;
  dataDir: string;
  process: ChildProcess;
  /** One account per role (`admin`, `operator`, `viewer`): sign in with `signIn(page, dashboard, role)` (e2e/support/auth.ts). */
  credentials: Record<Role, Credentials>;
  /** One API token per role (LIFEBOAT_API_TOKENS_FILE), for calls from the test itself. */
  tokens: Record<Role, string>;
  /** Everything the server printed, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/** Passwords and tokens that stay the same for a data directory, so a dashboard restarted on it signs the same people in. */
function secretFor(dataDir: string, what: string): string {
  return createHash("sha256").update(`${dataDir}\0${what}`).digest("base64url").slice(0, 32);
}

/** The accounts startDashboard makes for a data directory (the admin's comes from LIFEBOAT_ADMIN_PASSWORD_FILE). */
export function credentialsFor(dataDir: string): Record<Role, Credentials> {
  return Object.fromEntries(ROLES.map((r) => [r, { name: r, password: secretFor(dataDir, `password:${r}`) }])) as Record<Role, Credentials>;
}

/**
 * Starts the built dashboard (its server, lib/http/dashboard-server.ts) on a free port with a
 * throw-away data directory and the given environment, and gives it one account per role. Resolves
 * when it answers HTTP. Build first (global setup does).
 */
export async function startDashboard(opts: { env?: Record<string, string>; dataDir?: string } = {}): Promise<RunningDashboard> {
  const port = await freePort();
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), "lifeboat-e2e-data-"));
  const credentials = credentialsFor(dataDir);
  const tokens = Object.fromEntries(ROLES.map((r) => [r, `e2e-${r}-${secretFor(dataDir, `token:${r}`)}`])) as Record<Role, string>;
  const secrets = `${dataDir}.secrets`;
  mkdirSync(secrets, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(secrets, "admin-password"), credentials.admin.password + "\n", { mode: 0o600 });
  writeFileSync(path.join(secrets, "api-tokens"), ROLES.map((r) => `${r} ${tokens[r]}`).join("\n") + "\n", { mode: 0o600 });
  const proc = startProcess(process.execPath, ["--import", "tsx", "lib/http/dashboard-server.ts", "--port", String(port), "--host", "127.0.0.1"], {
    env: {
      ...process.env,
      NEXT_TELEMETRY_DISABLED: "1",
      LIFEBOAT_NEXT_DIST: process.env.LIFEBOAT_NEXT_DIST || ".next-e2e",
      LIFEBOAT_DATA_DIR: dataDir,
      LIFEBOAT_ADMIN_PASSWORD_FILE: path.join(secrets, "admin-password"),
      LIFEBOAT_API_TOKENS_FILE: path.join(secrets, "api-tokens"),
      LOG_LEVEL: "warn",
      ...opts.env,
    },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(url + "/api/livez", { timeoutMs: 60_000, what: "the dashboard", proc });
  // The operator and viewer accounts (again after a restart on the same data dir: then they exist).
  for (const role of ["operator", "viewer"] as const) {
    const res = await fetch(`${url}/api/users`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokens.admin}`, "content-type": "application/json" },
      body: JSON.stringify({ name: credentials[role].name, role, password: credentials[role].password }),
    });
    if (res.status !== 201 && res.status !== 409) throw new Error(`could not make the ${role} account (${res.status}): ${await res.text()}\n${proc.output()}`);
  }
  return { url, dataDir, process: proc.child, credentials, tokens, output: proc.output, stop: () => proc.stop() };
}

// Specs stop the launcher (`npm start`) with it too.
export { killGroup };

/**
 * Renders `paths` once as the admin, so their first render (loading the route's modules: ~2 s on an
 * idle 2-core machine, several times that on a loaded one) happens before a test's clocks start.
 */
export async function warmPages(dashboard: RunningDashboard, paths: string[]): Promise<void> {
  const login = await fetch(`${dashboard.url}/api/auth/login`, {
    method: "POST",
    headers: { origin: dashboard.url, "content-type": "application/json" },
    body: JSON.stringify(dashboard.credentials.admin),
  });
  if (login.status !== 200) throw new Error(`warming ${dashboard.url}: sign-in answered ${login.status}`);
  const cookie = login.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
  for (const p of paths) {
    const res = await fetch(dashboard.url + p, { headers: { cookie }, redirect: "manual" });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`warming ${p}: answered ${res.status}`);
  }
}
