import { describe, it, expect, beforeAll, afterAll, afterEach } from "vitest";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { RestoreRecord } from "../../lib/contracts/agent-restore";
import { runProcess } from "../../lib/process";
import { loadAgentConfig } from "../config";
import { makeDeps } from "../deps";
import type { AgentDeps } from "../module";
import { buildAgentApp } from "../server";
import { plantForeignWal } from "../testing/corrupt";
import { agentEnvFor, hasMarker, integrity, makeDirStoreSet, makeTestServer, runK3s, treeState, waitFor, type TestServer } from "../testing/restore-fixtures";
import { loadJournal } from "./journal";
import { confirmRestore, getRestore, resumeInterrupted, startRestore } from "./runner";

/**
 * The restore paths nothing exercised before (issue 11): a k3s stop that returns while its writer
 * still holds the database (the wait is real; "still held after N s" when it never lets go), a stale
 * WAL and SHM removed after the swap, and the lock file between the service and a CLI restore or
 * rollback, both ways round. Each against the fake k3s (a real kine-like writer process).
 */

const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(ROOT, "agent/bin/lifeboat-agent.js");
const TOKEN = "paths-agent-token-0123456789abcdef";

let work: string;
let backupDir: string;
let passFile: string;
let setId: string;
const running: TestServer[] = [];
let n = 0;

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-paths-"));
  ({ backupDir, passFile, setId } = await makeDirStoreSet(work, { seed: 81, marker: "marker-NEW", passphrase: "paths passphrase" }));
}, 120_000);

afterEach(() => {
  for (const s of running.splice(0)) runK3s(s, "stop");
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function env(server: TestServer, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...agentEnvFor(server),
    LIFEBOAT_BACKUP_DIR: backupDir,
    LIFEBOAT_PASSPHRASE_FILE: passFile,
    LIFEBOAT_OWNER: `${process.getuid!()}:${process.getgid!()}`,
    LIFEBOAT_AGENT_TOKEN: TOKEN,
    ...extra,
  };
}
function depsFor(server: TestServer, extra: Record<string, string> = {}): AgentDeps {
  return makeDeps(loadAgentConfig(env(server, extra)), { logDestination: pino.destination("/dev/null") });
}
function target(): TestServer {
  const t = makeTestServer(path.join(work, `t${++n}`), { seed: 300 + n, marker: "marker-OLD" });
  runK3s(t, "start");
  running.push(t);
  return t;
}
function script(t: TestServer, name: string, body: string): string {
  const file = path.join(t.root, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}
const restore = (deps: AgentDeps, confirm: boolean) =>
  startRestore(deps, { source: { kind: "backup", setId }, dryRun: false, include: { token: true, cred: false, tls: false }, confirm, compareWithLive: false });

describe("stopping k3s: the wait until nothing holds the database", () => {
  it("waits for a writer that outlives the stop command, and says so", async () => {
    const t = target();
    const pidFile = path.join(t.root, "simulated-k3s.pid");
    const released = path.join(t.root, "writer-released");
    // Like a service manager that returns before the datastore writer has closed the database: the
    // writer is told to stop 2 s later, in the background, and the stop command returns at once. The
    // pid file is left to the simulated k3s (its start sees the writer gone): removing it here, after
    // the restore had started k3s again, deleted the new writer's and left that writer running for
    // good after the test (seen as an orphan kine writer after a CI run).
    const stop = script(
      t,
      "k3s-stop",
      `pid=$(head -n1 ${pidFile})\n( sleep 2; kill -TERM $pid; while ls -l /proc/$pid/fd 2>/dev/null | grep -q 'state\\.db'; do sleep 0.02; done; date +%s%3N > ${released} ) </dev/null >/dev/null 2>&1 &\nexit 0`,
    );
    const deps = depsFor(t, { LIFEBOAT_K3S_STOP_CMD: stop });
    const writerPid = readFileSync(pidFile, "utf8").split("\n")[0];
    const { restoreId, done } = await restore(deps, true);
    const job = await done;
    expect(job.state, job.error ?? "").toBe("succeeded");
    const stopStep = job.steps.find((s) => s.name === "stop")!;
    // Holders are named by process name and pid, never by their command line (it can carry secrets).
    const waited = /nothing holds the database any more \(waited (\d+\.\d) s for \S+ \(pid (\d+)\) to let go of it\)$/.exec(stopStep.detail ?? "");
    expect(waited, stopStep.detail ?? "").not.toBeNull();
    expect(waited![2]).toBe(writerPid);
    expect(stopStep.detail).not.toContain("kine-writer");
    expect(Number(waited![1])).toBeGreaterThanOrEqual(1.5);
    // The swap began only once the writer had closed the database (both sides poll: allow one of their ticks).
    const history = loadJournal(deps.config, restoreId)!.history;
    const stoppedAt = Date.parse(history.find((h) => h.phase === "stopped")!.at);
    expect(stoppedAt).toBeGreaterThanOrEqual(Number(readFileSync(released, "utf8")) - 100);
    expect(stoppedAt - Date.parse(history.find((h) => h.phase === "stopping")!.at)).toBeGreaterThanOrEqual(1900);
    expect(hasMarker(t.dbPath, "marker-NEW")).toBe(true);
    expect(integrity(t.dbPath)).toBe("ok");
  });

  it("gives up when the database stays held: says who held it for how long, starts k3s again, changes nothing", async () => {
    const t = target();
    const before = treeState(t.serverDir, { skipDbContent: true });
    const deps = depsFor(t, { LIFEBOAT_K3S_STOP_CMD: "true", LIFEBOAT_K3S_STOP_WAIT_SECONDS: "2" });
    const { restoreId, done } = await restore(deps, true);
    const job = await done;
    expect(job.state).toBe("failed");
    expect(job.error).toMatch(
      /^k3s was stopped, but after 2 s these processes still hold the database: \S+ \(pid \d+\)\. k3s was started again\. Stop them and retry .*Nothing on the server changed; the staged backup is kept/,
    );
    const rec = getRestore(deps, restoreId);
    expect(rec).toMatchObject({ status: "failed", targetState: "Nothing on the server changed.", canConfirm: true });
    expect(treeState(t.serverDir, { skipDbContent: true })).toEqual(before);
    expect(hasMarker(t.dbPath, "marker-OLD")).toBe(true);
    expect(runK3s(t, "status")).toBe("active");
  });
});

describe("the swap removes a stale WAL and SHM", () => {
  it("a WAL from another database and an SHM in the staged db/ are removed, not replayed into the restored database", async () => {
    const t = target();
    const deps = depsFor(t);
    const { restoreId, done } = await restore(deps, false);
    expect((await done).state).toBe("succeeded");
    expect(getRestore(deps, restoreId).status).toBe("awaiting-confirmation");
    const staged = path.join(loadJournal(deps.config, restoreId)!.stagingDir, "db", "state.db");
    expect(plantForeignWal(staged, path.join(t.root, "other.db"))).toBeGreaterThan(100_000);
    writeFileSync(`${staged}-shm`, Buffer.alloc(32768, 7));
    const job = await confirmRestore(deps, restoreId).done;
    expect(job.state, job.error ?? "").toBe("succeeded");
    expect(job.steps.find((s) => s.name === "swap")?.detail).toMatch(/removed stale state\.db-wal, state\.db-shm/);
    const rec = getRestore(deps, restoreId);
    expect(rec.after).toMatchObject({ quickCheck: { ok: true }, noStaleWal: true });
    expect(integrity(t.dbPath)).toBe("ok");
    expect(hasMarker(t.dbPath, "marker-NEW")).toBe(true);
  });
});

/** Runs the CLI (`lifeboat-agent …`) for a server, as a separate process. */
function cli(t: TestServer, args: string[], extra: Record<string, string> = {}) {
  return runProcess(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? "/root", LIFEBOAT_AGENT_TSX: "1", ...env(t, extra) } as unknown as NodeJS.ProcessEnv,
    timeoutMs: 180_000,
  });
}

async function waitPhase(deps: AgentDeps, id: string, phase: string): Promise<void> {
  await waitFor(() => (loadJournal(deps.config, id)?.phase === phase ? true : undefined), 90_000, `restore ${id} to reach ${phase}`);
}

describe("the lock between the service and the CLI", () => {
  it("a CLI restore or rollback while the service restores is refused, and the service keeps its restore", async () => {
    const t = target();
    const first = depsFor(t);
    const r1 = await restore(first, true);
    expect((await r1.done).state).toBe("succeeded");

    // The service restores again; its stop takes 5 s: the CLI comes in meanwhile.
    const service = depsFor(t, { LIFEBOAT_K3S_STOP_CMD: `sleep 5; ${t.k3s.stop}` });
    const app = buildAgentApp(service);
    await app.listen(0, "127.0.0.1");
    let r2: Awaited<ReturnType<typeof restore>> | undefined;
    try {
      r2 = await restore(service, true);
      await waitPhase(service, r2.restoreId, "stopping");
      const cliRestore = await cli(t, ["restore", setId, "--yes"]);
      expect(cliRestore.code, cliRestore.stderr).toBe(1);
      expect(cliRestore.stderr).toMatch(new RegExp(`Restore ${r2.restoreId} is not finished \\(stopping\\); the agent completes it first\\.`));
      const cliRollback = await cli(t, ["rollback", r1.restoreId, "--yes"]);
      expect(cliRollback.code).toBe(1);
      expect(cliRollback.stderr).toMatch(
        new RegExp(
          `Another Lifeboat process \\(pid ${process.pid}\\) is working on the datastore right now \\(a restore, rollback, restore drill or recovery\\)`,
        ),
      );
      const job = await r2.done;
      expect(job.state, job.error ?? "").toBe("succeeded");
      // Neither CLI took the running restore over (a restarted agent notes it has done so).
      expect(loadJournal(service.config, r2.restoreId)!.history.some((h) => /agent restarted/.test(h.note ?? ""))).toBe(false);
      expect(getRestore(service, r1.restoreId).status).toBe("succeeded");
    } finally {
      // A failed expectation must not leave the service's restore running past afterEach's stop of
      // k3s: it would start the writer again afterwards, and nothing would stop it.
      await r2?.done.catch(() => {});
      await app.close();
    }
  });

  it("the other way round: while a CLI restores, the service refuses a restore and a rollback, and does not take the CLI's restore over", async () => {
    const t = target();
    const service = depsFor(t);
    const r1 = await restore(service, true);
    expect((await r1.done).state).toBe("succeeded");
    const app = buildAgentApp(service);
    const { url } = await app.listen(0, "127.0.0.1");
    const call = async (method: string, p: string, body?: object) => {
      const res = await fetch(url + p, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, json: await res.json() };
    };
    let exited: Promise<number | null> | undefined;
    try {
      const childEnv = {
        PATH: process.env.PATH!,
        HOME: process.env.HOME ?? "/root",
        LIFEBOAT_AGENT_TSX: "1",
        ...env(t, { LIFEBOAT_K3S_STOP_CMD: `sleep 5; ${t.k3s.stop}` }),
      };
      const child = spawn(process.execPath, [BIN, "restore", setId, "--yes"], {
        env: childEnv as unknown as NodeJS.ProcessEnv,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.on("data", (d) => (out += String(d)));
      exited = new Promise<number | null>((resolve) => child.on("close", resolve));
      const cliRestore = await waitFor(() => runningAt(service, "stopping"), 90_000, "the CLI's restore to stop k3s");
      const again = await call("POST", "/restores", { source: { kind: "backup", setId }, confirm: true });
      expect(again.status).toBe(409);
      expect(again.json.message).toMatch(/is not finished \(stopping\)/);
      const rollback = await call("POST", `/restores/${r1.restoreId}/rollback`);
      expect(rollback.status).toBe(409);
      expect(rollback.json).toMatchObject({ code: "datastore_busy" });
      expect(rollback.json.message).toMatch(
        /^Another Lifeboat process \(pid \d+\) is working on the datastore right now \(a restore, rollback, restore drill or recovery\); wait for it to finish\.$/,
      );
      // What a service does when it starts: finish interrupted restores. The CLI's is not interrupted.
      expect(await resumeInterrupted(service)).toEqual([]);
      expect(await exited).toBe(0);
      expect(RestoreRecord.parse(JSON.parse(out)).status).toBe("succeeded");
      expect(loadJournal(service.config, cliRestore)!.history.some((h) => /agent restarted/.test(h.note ?? ""))).toBe(false);
    } finally {
      // As above: the CLI's restore ends (and starts k3s) before afterEach stops k3s.
      await exited;
      await app.close();
    }
  });
});

/** The id of the running restore whose journal is at `phase`, if any. */
function runningAt(deps: AgentDeps, phase: string): string | undefined {
  const dir = path.join(deps.config.stateDir, "restores");
  for (const id of existsSync(dir) ? readdirSync(dir) : []) {
    if (id.startsWith(".")) continue;
    const j = loadJournal(deps.config, id);
    if (j?.phase === phase && j.status === "running") return id;
  }
  return undefined;
}
