// `npm start`: the dashboard on its embedded defaults, or on your bucket.
//
// 1. Parses the dashboard's environment, .env files included (fails naming the variable).
// 2. Builds the dashboard when there is no build in LIFEBOAT_NEXT_DIST (default .next), or when a
//    source file is newer than the build (LIFEBOAT_BUILD=auto, the default; `always` / `never`).
// 3. Without AWS_S3_BUCKET: starts the embedded S3 store (s3rver on loopback, data in
//    <data dir>/s3) and, once, fills it with the demo history (`lifeboat-agent demo-init`) —
//    in parallel with the build. Then starts a demo agent on loopback against the demo server
//    directory (unless LIFEBOAT_AGENT_URL points at a real one), whose "k3s" is a simulated writer
//    (agent/demo/simulated-k3s.ts, run as a command) the restore wizard really stops and starts.
//    The demo agent answers HTTPS with its self-signed certificate, which the dashboard pins.
//    Without KUBECONFIG, also the demo cluster around that k3s (lib/launcher/demo-cluster.ts).
// 4. Runs the dashboard's server (lib/http/dashboard-server.ts: Next.js behind a thin front that
//    tells it the real client address) and prints where to open it; on a first run, the generated
//    password of the `admin` account, once.
// Children run in their own process groups and are stopped on exit, SIGINT and SIGTERM.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import nextEnv from "@next/env";
import { ConfigError, parseEnv, type DashboardEnv } from "../env";
import { INITIAL_PASSWORD_FILE } from "../auth/config";
import { thresholdsFromEnv } from "../catalog/config";
import { startEmbeddedS3, type EmbeddedS3 } from "../storage/embedded-s3";
import { freePort, portFree } from "../net/ports";
import { startProcess, waitForHttp, waitForListeningInfo, type RunningProcess } from "../process";
import { dashboardDatabaseProblem } from "../http/data-dir";
import { demoAgentTokenFile } from "./demo-token";
import { startLauncherDemoCluster } from "./demo-cluster";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const DEMO_BUCKET = "lifeboat-demo";
const SOURCES = ["app", "components", "lib", "public", "next.config.js", "package.json", "postcss.config.mjs", "tsconfig.json"];

const say = (line: string) => process.stdout.write(line + "\n");
const children = new Set<RunningProcess>();
let embedded: EmbeddedS3 | null = null;
let stopping = false;
// Synchronous clean-ups on exit (the demo's simulated k3s runs detached, outside our process groups).
const cleanups: (() => void)[] = [];

/** Exits after stopping every child; `code` is the process exit code. */
async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    await Promise.all([...children].map((c) => c.stop()));
    for (const c of cleanups.splice(0)) c();
    await embedded?.stop();
  }
  process.exit(code);
}

/** Spawns `node args` in its own process group, tracked for shutdown; its lines are printed prefixed with `name` (stderr only when `quiet`). */
function run(name: string, args: string[], env: NodeJS.ProcessEnv, opts: { quiet?: boolean } = {}): RunningProcess {
  const child = startProcess(process.execPath, args, {
    cwd: ROOT,
    env,
    keepOutput: false,
    onLine: (line, stream) => {
      if (!opts.quiet || stream === "stderr") say(`${name} | ${line}`);
    },
  });
  children.add(child);
  void child.exited.then(() => children.delete(child));
  return child;
}

/** Resolves with the exit code. */
const exitCode = (child: RunningProcess) => child.exited.then((e) => e.code ?? 1);

/** Newest modification time under the dashboard's sources (tests excluded), in ms. */
function newestSource(): number {
  let newest = 0;
  const visit = (p: string) => {
    let st;
    try {
      st = statSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      for (const e of readdirSync(p)) if (e !== "node_modules" && !e.startsWith(".")) visit(path.join(p, e));
    } else if (!/\.test\.tsx?$/.test(p)) newest = Math.max(newest, st.mtimeMs);
  };
  for (const s of SOURCES) visit(path.join(ROOT, s));
  return newest;
}

/** Why a build is needed, or null. */
function buildReason(dist: string, mode: string): string | null {
  const id = path.join(ROOT, dist, "BUILD_ID");
  if (mode === "always") return "LIFEBOAT_BUILD=always";
  if (!existsSync(id)) return `no build in ${dist}`;
  if (mode === "never") return null;
  return newestSource() > statSync(id).mtimeMs ? `sources changed since the build in ${dist}` : null;
}

/** Starts the embedded store, on the port it had last time when free (so the cached catalog's source stays the same). */
async function startStore(dataDir: string): Promise<EmbeddedS3> {
  const portFile = path.join(dataDir, "s3", ".port");
  const last = existsSync(portFile) ? Number(readFileSync(portFile, "utf8")) : 0;
  const port = last && (await portFree(last, "127.0.0.1")) ? last : 0;
  const s3 = await startEmbeddedS3({ directory: path.join(dataDir, "s3"), buckets: [DEMO_BUCKET], port });
  writeFileSync(portFile, String(s3.port));
  return s3;
}

/**
 * The demo's simulated k3s as the three shell command lines the demo agent gets: its CLI (see
 * agent/demo/simulated-k3s.ts) run from the sources through tsx. A kine-like writer process on the
 * demo database, one write a second, compaction left stuck like the demo's story.
 */
function demoK3sCommands(serverDir: string): { start: string; stop: string; status: string } {
  const base = `cd ${JSON.stringify(ROOT)} && ${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(path.join(ROOT, "agent", "demo", "simulated-k3s.ts"))}`;
  const dir = `--server-dir ${JSON.stringify(serverDir)}`;
  return { start: `${base} start ${dir} --interval-ms 1000 --compact-every-ms 0`, stop: `${base} stop ${dir}`, status: `${base} status ${dir}` };
}

/**
 * Starts the demo server's "k3s" (demoK3sCommands), so the restore wizard really stops it, swaps the
 * database and starts it again. Stopped when npm start exits.
 */
function startDemoK3s(serverDir: string): { start: string; stop: string; status: string } {
  const k3s = demoK3sCommands(serverDir);
  try {
    execFileSync("sh", ["-c", k3s.start], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"], timeout: 60_000 });
    cleanups.push(() => {
      try {
        execFileSync("sh", ["-c", k3s.stop], { cwd: ROOT, stdio: "ignore", timeout: 20_000 });
      } catch {
        // already stopped
      }
    });
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? "").trim();
    say(`The demo's k3s (a simulated writer) did not start${stderr ? `: ${stderr.split("\n").at(-1)}` : ""}; the demo agent runs without it.`);
  }
  return k3s;
}

/** Starts the demo agent and resolves with its URL and certificate fingerprint (from the JSON line `serve` prints). */
async function startDemoAgent(env: DashboardEnv, s3env: Record<string, string>, tokenFile: string): Promise<{ url: string; fingerprint?: string }> {
  const demo = path.join(env.dataDir, "demo");
  const k3s = startDemoK3s(path.join(demo, "k3s", "server"));
  const port = await freePort();
  const child = run(
    "agent",
    ["agent/bin/lifeboat-agent.js", "serve"],
    {
      ...process.env,
      ...s3env,
      LIFEBOAT_K3S_SERVER_DIR: path.join(demo, "k3s", "server"),
      LIFEBOAT_STATE_DIR: path.join(demo, "k3s", "lifeboat"),
      LIFEBOAT_PASSPHRASE_FILE: path.join(demo, "passphrase"),
      LIFEBOAT_AGENT_TOKEN: "",
      LIFEBOAT_AGENT_TOKEN_FILE: tokenFile,
      LIFEBOAT_AGENT_HOST: "127.0.0.1",
      LIFEBOAT_AGENT_PORT: String(port),
      LIFEBOAT_BACKUP_SCHEDULE: "off",
      LIFEBOAT_K3S_STOP_CMD: k3s.stop,
      LIFEBOAT_K3S_START_CMD: k3s.start,
      LIFEBOAT_K3S_STATUS_CMD: k3s.status,
      // The demo files belong to you, not root: the agent's ownership checks expect that here.
      LIFEBOAT_OWNER: `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`,
      LOG_LEVEL: process.env.LOG_LEVEL || "warn",
    },
    { quiet: true },
  );
  const info = await waitForListeningInfo(child, { timeoutMs: 30_000, what: "the demo agent" });
  return { url: info.listening, fingerprint: info.fingerprint };
}

/** What to say about signing in: the first admin's password once (the run that made it), else where it is. */
function firstSignIn(env: DashboardEnv, passwordFile: string, hadPasswordFile: boolean): string {
  if (env.auth.adminPasswordFile) return `Sign in as admin with the password in LIFEBOAT_ADMIN_PASSWORD_FILE (on a first run), or with your own account.`;
  if (!hadPasswordFile && existsSync(passwordFile)) {
    const password = readFileSync(passwordFile, "utf8").trim();
    return [
      "",
      "First run: sign in as  admin  with the password",
      "",
      `  ${password}`,
      "",
      `(shown this once; it is also in ${passwordFile}, mode 0600, until you change it: your name → Change password).`,
    ].join("\n");
  }
  if (existsSync(passwordFile)) return `Sign in as admin with the password in ${passwordFile} (until you change it), or with your own account.`;
  return "Sign in with your account (locked out? npm run users -- reset-password <name>).";
}

async function main(): Promise<void> {
  // Read .env / .env.local / .env.production the way `next start` will, so the launcher decides
  // (demo or your bucket) from the same settings the dashboard runs with. The environment wins.
  nextEnv.loadEnvConfig(ROOT, false, { info: () => {}, error: (...a: unknown[]) => process.stderr.write(`${a.join(" ")}\n`) });
  let env: DashboardEnv;
  try {
    env = parseEnv(process.env);
    thresholdsFromEnv(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n\nFix the variable above (see README.md, "Dashboard configuration") and run npm start again.\n`);
      process.exit(2);
    }
    throw err;
  }
  mkdirSync(env.dataDir, { recursive: true });
  // Before anything starts: a damaged lifeboat.db is a sentence now, not a minute's wait and a stack trace.
  const dbProblem = dashboardDatabaseProblem(env.dataDir);
  if (dbProblem) {
    process.stderr.write(`${dbProblem}\n`);
    process.exit(1);
  }
  if (!(await portFree(env.PORT, env.LIFEBOAT_HOST))) {
    process.stderr.write(
      `Port ${env.PORT} on ${env.LIFEBOAT_HOST} is in use (another dashboard?). Stop it, or start this one with PORT=${env.PORT + 1} npm start.\n`,
    );
    process.exit(1);
  }
  const dist = process.env.LIFEBOAT_NEXT_DIST || ".next";
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    NEXT_TELEMETRY_DISABLED: "1",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    LIFEBOAT_NEXT_DIST: dist,
    LIFEBOAT_DATA_DIR: env.dataDir,
  };
  const started = Date.now();

  const reason = buildReason(dist, (process.env.LIFEBOAT_BUILD || "auto").toLowerCase());
  let build: Promise<number> = Promise.resolve(0);
  if (reason) {
    say(`Building the dashboard (${reason}); this takes about half a minute…`);
    build = exitCode(run("build", ["node_modules/next/dist/bin/next", "build"], childEnv));
  }

  const demo = !env.AWS_S3_BUCKET;
  let s3env: Record<string, string> = {};
  let demoReady: Promise<number> = Promise.resolve(0);
  if (demo) {
    embedded = await startStore(env.dataDir);
    s3env = {
      AWS_S3_ENDPOINT: embedded.endpoint,
      AWS_S3_BUCKET: DEMO_BUCKET,
      AWS_S3_PATH: "",
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
      AWS_DEFAULT_REGION: "us-east-1",
    };
    say(`No AWS_S3_BUCKET set: using the embedded S3 store at ${embedded.endpoint} (data in ${path.join(env.dataDir, "s3")}).`);
    if (!existsSync(path.join(env.dataDir, "demo", "demo.json"))) {
      say("Creating the demo history (90 nights of backups)…");
      demoReady = exitCode(run("demo", ["agent/bin/lifeboat-agent.js", "demo-init", "--data-dir", env.dataDir], { ...childEnv, ...s3env, LOG_LEVEL: "warn" }));
    }
  }

  const [buildCode, demoCode] = await Promise.all([build, demoReady]);
  if (buildCode !== 0) {
    process.stderr.write(`\nThe dashboard build failed (exit ${buildCode}); see the "build |" lines above.\n`);
    return shutdown(1);
  }
  if (demoCode !== 0) {
    process.stderr.write(
      `\nCreating the demo history failed (exit ${demoCode}); see the "demo |" lines above. Run npm start again to resume it, or delete ${path.join(env.dataDir, "demo")} and ${path.join(env.dataDir, "s3")} to start over.\n`,
    );
    return shutdown(1);
  }

  const dashEnv: NodeJS.ProcessEnv = { ...childEnv, ...s3env };
  if (demo) dashEnv.LIFEBOAT_DEMO = "1";
  if (!env.LIFEBOAT_AGENT_URL && demo) {
    const tokenFile = demoAgentTokenFile(env.dataDir);
    const agent = await startDemoAgent(env, s3env, tokenFile);
    // The demo takes the real path: HTTPS, the agent's self-signed certificate pinned by its fingerprint.
    Object.assign(dashEnv, {
      LIFEBOAT_AGENT_URL: agent.url,
      LIFEBOAT_AGENT_TOKEN: "",
      LIFEBOAT_AGENT_TOKEN_FILE: tokenFile,
      LIFEBOAT_AGENT_FINGERPRINT: agent.fingerprint ?? "",
    });
    say(`Demo agent (for the demo k3s server in ${path.join(env.dataDir, "demo", "k3s", "server")}) at ${agent.url}, pinned by its certificate's fingerprint.`);
    if (!env.KUBECONFIG) {
      // Without KUBECONFIG, a simulated cluster around the demo's k3s, so Nodes and Migrate worker have something to show.
      const demoCluster = await startLauncherDemoCluster(env.dataDir, { LIFEBOAT_K3S_URL: env.LIFEBOAT_K3S_URL });
      cleanups.push(() => void demoCluster.cluster.stop());
      Object.assign(dashEnv, demoCluster.env);
      say(
        `Demo cluster (three simulated Raspberry Pis) at ${demoCluster.cluster.api.url}; its kubeconfig is ${demoCluster.cluster.kubeconfigPath}. Set KUBECONFIG to use yours.`,
      );
    }
  }

  if (!demo && !env.LIFEBOAT_AGENT_URL) say("No agent configured (LIFEBOAT_AGENT_URL): the history works; backups, health checks and restores need the agent.");

  // A viewer token for this run only, with which the launcher fills the catalog before saying "ready".
  const launcherToken = randomBytes(32).toString("base64url");
  dashEnv.LIFEBOAT_LAUNCHER_TOKEN = launcherToken;
  const passwordFile = path.join(env.dataDir, INITIAL_PASSWORD_FILE);
  const hadPasswordFile = existsSync(passwordFile);
  const next = run("dashboard", ["--import", "tsx", "lib/http/dashboard-server.ts", "--port", String(env.PORT), "--host", env.LIFEBOAT_HOST], dashEnv);
  void next.exited.then(({ code }) => {
    if (stopping) return;
    process.stderr.write(`\nThe dashboard exited (code ${code}).\n`);
    void shutdown(code || 1);
  });
  const shown = env.LIFEBOAT_HOST === "0.0.0.0" ? "127.0.0.1" : env.LIFEBOAT_HOST;
  const url = `http://${shown}:${env.PORT}`;
  await waitForHttp(`${url}/api/livez`, { timeoutMs: 60_000, what: "the dashboard", proc: next });
  // Fill the catalog cache now (this call waits for the first listing), so the first page is instant.
  // The dashboard makes the first admin on this first call, when there is none yet.
  await fetch(`${url}/api/backups?limit=1`, { headers: { authorization: `Bearer ${launcherToken}` }, signal: AbortSignal.timeout(130_000) }).catch(() => {});

  say("");
  say(`Lifeboat is ready (${((Date.now() - started) / 1000).toFixed(0)} s): open ${url}`);
  say(firstSignIn(env, passwordFile, hadPasswordFile));
  if (demo) {
    say("");
    say("This is DEMO data: 90 nights of backups in an embedded S3 store, made like the incident's CronJob");
    say("(sizes scaled down), with its growth episode flagged. To see your own backups, stop this (Ctrl-C) and run:");
    say("");
    say("  AWS_S3_ENDPOINT=https://s3.example.com AWS_S3_BUCKET=my-bucket AWS_S3_PATH=k3s \\");
    say("  AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… AWS_DEFAULT_REGION=us-east-1 npm start");
    say("");
    say('(the same variables as the CronJob\'s backup-secret; see README.md, "Dashboard configuration").');
  }
  say("Stop with Ctrl-C.");
}

process.on("SIGINT", () => void shutdown(130));
process.on("SIGTERM", () => void shutdown(143));
main().catch((err) => {
  process.stderr.write(`\nnpm start failed: ${err instanceof Error ? err.message : String(err)}\n`);
  void shutdown(1);
});
