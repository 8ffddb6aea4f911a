import { describe, it, expect, beforeAll, afterAll } from "vitest";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
/**
 * A CLI restore while a real `serve` ships the log: the shipper's connection, kept open between reads,
 * is let go while another process holds the datastore lock, so the restore's stop step does not wait
 * on the agent itself (it failed with "these processes still hold the database: node (pid <serve>)").
 * After the swap the log goes on with a new generation.
 */

import { startProcess, runProcess, waitForListening } from "../../lib/process";
import { ContinuousStatus } from "../../lib/contracts/continuous";
import { RestoreRecord } from "../../lib/contracts/agent-restore";
import { agentEnvFor, hasMarker, makeDirStoreSet, makeTestServer, runK3s, waitFor, type TestServer } from "../testing/restore-fixtures";

const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(ROOT, "agent/bin/lifeboat-agent.js");
const TOKEN = "serve-cli-restore-token-0123456789abcdef";
let work: string;
let backupDir: string;
let passFile: string;
let setId: string;
let t: TestServer;
const agents: ChildProcess[] = [];

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH!,
    HOME: process.env.HOME ?? "/root",
    ...agentEnvFor(t),
    LIFEBOAT_BACKUP_DIR: backupDir,
    LIFEBOAT_PASSPHRASE_FILE: passFile,
    LIFEBOAT_OWNER: `${process.getuid!()}:${process.getgid!()}`,
    LIFEBOAT_AGENT_TOKEN: TOKEN,
    LIFEBOAT_AGENT_HOST: "127.0.0.1",
    LIFEBOAT_AGENT_PORT: "0",
    LIFEBOAT_AGENT_INSECURE_HTTP: "true",
    LIFEBOAT_LOG_INTERVAL_SECONDS: "1",
    ...extra,
  };
}

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-serve-cli-"));
  ({ backupDir, passFile, setId } = await makeDirStoreSet(work, { seed: 91, marker: "marker-NEW", passphrase: "serve cli passphrase" }));
  t = makeTestServer(path.join(work, "t"), { seed: 92, marker: "marker-OLD" });
  runK3s(t, "start");
}, 120_000);

afterAll(() => {
  for (const a of agents) if (a.exitCode === null && a.signalCode === null) a.kill("SIGKILL");
  runK3s(t, "stop");
  rmSync(work, { recursive: true, force: true });
});

describe("a CLI restore while serve ships the log", () => {
  it("serve lets go of the database so the CLI's restore can swap it", async () => {
    const running = startProcess(process.execPath, [BIN, "serve"], { env: env() as unknown as NodeJS.ProcessEnv, group: false });
    agents.push(running.child);
    const url = await waitForListening(running, { timeoutMs: 60_000, what: "the agent" });
    const status = async () => ContinuousStatus.parse(await (await fetch(`${url}/continuous`, { headers: { authorization: `Bearer ${TOKEN}` } })).json());
    const started = await fetch(`${url}/backups`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(started.status).toBe(202);
    await waitFor(async () => ((await status()).segments >= 2 ? true : undefined), 60_000, "segments shipped");
    const before = (await status()).generation;
    const run = await runProcess(process.execPath, [BIN, "restore", setId, "--yes"], {
      env: { ...env({ LIFEBOAT_K3S_STOP_WAIT_SECONDS: "15" }) } as unknown as NodeJS.ProcessEnv,
      timeoutMs: 120_000,
    });
    expect(run.code, run.stderr).toBe(0);
    expect(RestoreRecord.parse(JSON.parse(run.stdout)).status).toBe("succeeded");
    expect(hasMarker(t.dbPath, "marker-NEW")).toBe(true);
    // The log sees the replaced database and begins a new generation on it.
    await waitFor(
      async () => {
        const st = await status();
        return st.generation !== before && st.problem === null ? true : undefined;
      },
      60_000,
      "a new generation after the restore",
    );
  }, 200_000);
});
