import { execFile, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { simulatedK3sCommands } from "../../agent/demo/simulated-k3s";
import { agentEnvFor, makeTestServer, runK3s, type TestServer } from "../../agent/testing/restore-fixtures";
import type { BackupResult } from "../../lib/contracts/agent-backup";
import { startProcess, waitForListeningInfo } from "../../lib/process";
import { freePort } from "./ports";

const BIN = path.resolve("agent/bin/lifeboat-agent.js");
const run = promisify(execFile);
// The bin runs the bundle in agent/dist/ as installed agents do (global setup builds it once, so
// agents started side by side do not each build it; ~0.4 s less per start than tsx). A rebuild while
// an agent runs goes to a new directory and the three newest are kept, so its lazy chunks stay.
const BIN_ENV = {};

/**
 * Real agents for browser tests: `lifeboat-agent serve` as a separate process on loopback, against a
 * k3s-like server directory whose "k3s" is the fake service of the restore tests (a real kine-like
 * writer process started and stopped by the configured commands), backing up to a real s3rver.
 */

export interface RunningAgent {
  /** https://127.0.0.1:<port>: agents answer HTTPS with their self-signed certificate. */
  url: string;
  token: string;
  /** The certificate's SHA-256 fingerprint, as `serve` printed it. */
  fingerprint: string;
  /** What a dashboard needs to reach this agent: URL, token and the fingerprint it pins. */
  dashboardEnv: Record<string, string>;
  env: Record<string, string>;
  process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** A server directory for a test: generated kine database with a marker, token, cred/, tls/, and the fake k3s (not started). */
export function makeServer(root: string, opts: { seed: number; marker: string; token?: string; intervalMs?: number }): TestServer {
  const server = makeTestServer(root, { seed: opts.seed, marker: opts.marker, token: opts.token, targetBytes: 1_200_000 });
  // A calmer writer than the restore tests' (100 ms): four helpers share two cores.
  return { ...server, k3s: simulatedK3sCommands(server.serverDir, { intervalMs: opts.intervalMs ?? 400 }) };
}

/** The agent environment for a server: fake k3s commands, state dir beside it, the store, the passphrase file. */
export function agentEnv(
  server: TestServer,
  store: Record<string, string>,
  passphraseFile: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return agentEnvFor(server, { LOG_LEVEL: "warn", LIFEBOAT_PASSPHRASE_FILE: passphraseFile, ...store, ...extra });
}

/** Writes a passphrase file (mode 0400) and returns its path. */
export function passphraseFile(dir: string, name: string, passphrase: string): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  writeFileSync(file, passphrase + "\n", { mode: 0o400 });
  return file;
}

/**
 * Starts `lifeboat-agent serve` (HTTPS, as installed) on a free loopback port; resolves once it printed where it listens.
 * With `again` (an agent that was stopped), on its port with its token, so a dashboard started for it reaches the new one.
 */
export async function startAgent(env: Record<string, string>, again?: Pick<RunningAgent, "url" | "token">): Promise<RunningAgent> {
  const token = again?.token ?? randomBytes(24).toString("base64url");
  const port = again ? Number(new URL(again.url).port) : await freePort();
  const full = { ...env, LIFEBOAT_AGENT_TOKEN: token, LIFEBOAT_AGENT_HOST: "127.0.0.1", LIFEBOAT_AGENT_PORT: String(port) };
  const proc = startProcess(process.execPath, [BIN, "serve"], { env: { ...process.env, ...BIN_ENV, ...full } });
  const info = await waitForListeningInfo(proc, { timeoutMs: 60_000 });
  const fingerprint = info.fingerprint ?? "";
  return {
    url: info.listening,
    token,
    fingerprint,
    dashboardEnv: { LIFEBOAT_AGENT_URL: info.listening, LIFEBOAT_AGENT_TOKEN: token, LIFEBOAT_AGENT_TOKEN_FILE: "", LIFEBOAT_AGENT_FINGERPRINT: fingerprint },
    env: full,
    process: proc.child,
    output: proc.output,
    stop: () => proc.stop(),
  };
}

/** `lifeboat-agent backup` (the CronJob/systemd path) with an agent environment; resolves with the new set's id. */
export async function backupWithCli(env: Record<string, string>): Promise<string> {
  try {
    const { stdout } = await run(process.execPath, [BIN, "backup", "--no-retention", "--allow-new-passphrase"], {
      env: { ...process.env, ...BIN_ENV, ...env },
      maxBuffer: 10 * 1024 * 1024,
    });
    return (JSON.parse(stdout) as BackupResult).setId;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`lifeboat-agent backup failed: ${e.stderr ?? e.message}`);
  }
}

export { runK3s };
