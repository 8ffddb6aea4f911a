import { describe, it, expect, beforeAll, afterAll, afterEach } from "vitest";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { RestoreRecord } from "../../lib/contracts/agent-restore";
import { startProcess, waitForListening } from "../../lib/process";
import { agentEnvFor, hasMarker, integrity, makeDirStoreSet, makeTestServer, runK3s, waitFor, type TestServer } from "../testing/restore-fixtures";

/**
 * Crash safety (issue 4): the agent — a real `lifeboat-agent serve` process — is killed with SIGKILL
 * at each step boundary of a restore and in the middle of the swap (after db/ was moved aside and
 * before the restored one was moved in), then started again. Whatever the point, the server ends up
 * with either the old or the new database in place, whole, never a mix; the moved-aside copy is never
 * lost; k3s runs again. The same for a rollback killed half-way, at each of its step boundaries, and
 * inside the moves of token, cred/ and tls/ (between the two renames of one of them).
 */

const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(ROOT, "agent/bin/lifeboat-agent.js");
const PASS = "crash test passphrase";
const AGENT_TOKEN = "crash-test-agent-token-0123456789";

let work: string;
let passFile: string;
let backupDir: string;
let setId: string;
let sourceToken: string;
const agents: ChildProcess[] = [];
const servers: TestServer[] = [];

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-crash-"));
  // A Lifeboat set made by the backup pipeline, in a directory store (LIFEBOAT_BACKUP_DIR).
  const set = await makeDirStoreSet(work, { seed: 61, marker: "marker-NEW", passphrase: PASS });
  ({ backupDir, passFile, setId } = set);
  sourceToken = set.source.token;
}, 120_000);

afterEach(() => {
  for (const a of agents.splice(0)) if (a.exitCode === null && a.signalCode === null) a.kill("SIGKILL");
  for (const s of servers.splice(0)) runK3s(s, "stop");
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

let n = 0;
function freshServer(): TestServer {
  const s = makeTestServer(path.join(work, `t${++n}`), { seed: 200 + n, marker: "marker-OLD" });
  runK3s(s, "start");
  servers.push(s);
  return s;
}

interface Agent {
  url: string;
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `lifeboat-agent serve` as its own process on a free port. */
async function serve(server: TestServer, extra: Record<string, string> = {}): Promise<Agent> {
  const env = {
    PATH: process.env.PATH!,
    HOME: process.env.HOME ?? "/root",
    ...agentEnvFor(server),
    LIFEBOAT_BACKUP_DIR: backupDir,
    LIFEBOAT_PASSPHRASE_FILE: passFile,
    LIFEBOAT_AGENT_TOKEN: AGENT_TOKEN,
    LIFEBOAT_AGENT_HOST: "127.0.0.1",
    LIFEBOAT_AGENT_PORT: "0",
    LIFEBOAT_OWNER: "1000:1000",
    // Plain HTTP on loopback: these tests are about crashes, not the transport (agent/tls/tls.test.ts is).
    LIFEBOAT_AGENT_INSECURE_HTTP: "true",
    ...extra,
  };
  const running = startProcess(process.execPath, [BIN, "serve"], { env: env as unknown as NodeJS.ProcessEnv, group: false });
  const proc = running.child;
  agents.push(proc);
  const exited = running.exited;
  const url = await waitForListening(running, { timeoutMs: 60_000, what: "the agent" });
  return { url, proc, exited };
}

async function call(a: Agent, method: string, p: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(a.url + p, {
    method,
    headers: { authorization: `Bearer ${AGENT_TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

async function settled(a: Agent, id: string): Promise<RestoreRecord> {
  return waitFor(
    async () => {
      const r = await call(a, "GET", `/restores/${id}`);
      if (r.status !== 200) return undefined;
      const rec = RestoreRecord.parse(r.json);
      return rec.status === "running" || rec.status === "rolling-back" ? undefined : rec;
    },
    90_000,
    `restore ${id} to settle`,
  );
}

/** Directories holding a state.db, with which marker each database carries. */
function databases(s: TestServer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of readdirSync(s.serverDir)) {
    const db = path.join(s.serverDir, d, "state.db");
    if (!existsSync(db)) continue;
    out[d] = hasMarker(db, "marker-NEW") ? "new" : hasMarker(db, "marker-OLD") ? "old" : "neither";
  }
  return out;
}

const PRE_SWAP = ["staged", "verified", "stopped"];
const POST_SWAP = ["swap:begin", "swap:moved-aside", "swap:moved-in", "swap:files-placed", "owned", "started"];

describe("SIGKILL at every step boundary and in the middle of the swap, then restart", () => {
  for (const point of [...PRE_SWAP, ...POST_SWAP]) {
    it(`killed at "${point}": ${PRE_SWAP.includes(point) ? "nothing changed, k3s runs" : "the restore is finished on restart"}`, async () => {
      const s = freshServer();
      const oldToken = readFileSync(path.join(s.serverDir, "token"), "utf8").trim();
      const doomed = await serve(s, { LIFEBOAT_TEST_CRASH_AT: point });
      const started = await call(doomed, "POST", "/restores", { source: { kind: "backup", setId }, confirm: true });
      expect(started.status).toBe(202);
      const { restoreId } = started.json;
      const death = await doomed.exited;
      expect(death.signal).toBe("SIGKILL");

      // Right after the crash: the old database exists somewhere whole (db/ or the moved-aside copy).
      const atCrash = databases(s);
      expect(Object.values(atCrash)).toContain("old");
      expect(Object.values(atCrash)).not.toContain("neither");

      const agent = await serve(s);
      const rec = await settled(agent, restoreId);
      const after = databases(s);
      expect(integrity(s.dbPath)).toBe("ok");
      if (PRE_SWAP.includes(point)) {
        expect(rec.status).toBe("failed");
        expect(rec.targetState).toBe("Nothing on the server changed.");
        expect(rec.error).toMatch(/The agent stopped \(killed or crashed\)/);
        expect(after).toEqual({ db: "old" });
        expect(readFileSync(path.join(s.serverDir, "token"), "utf8").trim()).toBe(oldToken);
        // A verified backup stays staged, ready to be confirmed again.
        expect(rec.canConfirm).toBe(point !== "staged");
      } else {
        expect(rec.status, rec.error ?? "").toBe("succeeded");
        expect(after.db).toBe("new");
        expect(after[path.basename(rec.asideDir!)]).toBe("old");
        expect(Object.keys(after).sort()).toEqual(["db", path.basename(rec.asideDir!)].sort());
        expect(readFileSync(path.join(s.serverDir, "token"), "utf8").trim()).toBe(sourceToken);
        expect(rec.after).toMatchObject({ quickCheck: { ok: true }, ownershipOk: true });
      }
      expect(runK3s(s, "status")).toBe("active");
    }, 180_000);
  }
});

/** The marker of the token, cred/passwd and tls/server-ca.crt in `dir` (the source's or the target's), or "none". */
function extrasOf(s: TestServer, suffix = ""): { token: string; cred: string; tls: string } {
  const read = (p: string) => (existsSync(p) ? readFileSync(p, "utf8") : null);
  const token = read(path.join(s.serverDir, `token${suffix}`))?.trim();
  const mark = (text: string | null) => (text === null ? "none" : text.includes("marker-NEW") ? "new" : text.includes("marker-OLD") ? "old" : "other");
  return {
    token: token === undefined ? "none" : token === sourceToken ? "new" : "old",
    cred: mark(read(path.join(s.serverDir, `cred${suffix}`, "passwd"))),
    tls: mark(read(path.join(s.serverDir, `tls${suffix}`, "server-ca.crt"))),
  };
}

const EVERYTHING = { token: true, cred: true, tls: true };

describe("SIGKILL inside the moves of token, cred/ and tls/, then restart", () => {
  for (const point of ["swap:token-aside", "swap:cred-aside"]) {
    it(`killed at "${point}": the restore is finished on restart, every file in place once`, async () => {
      const s = freshServer();
      const doomed = await serve(s, { LIFEBOAT_TEST_CRASH_AT: point });
      const started = await call(doomed, "POST", "/restores", { source: { kind: "backup", setId }, confirm: true, include: EVERYTHING });
      expect(started.status).toBe(202);
      expect((await doomed.exited).signal).toBe("SIGKILL");
      // Between the two renames: the host's copy is aside, the restored one still staged; nothing is lost.
      const name = point.split(":")[1].replace("-aside", "") as "token" | "cred";
      expect(extrasOf(s)[name]).toBe("none");
      const rec = await settled(await serve(s), started.json.restoreId);
      expect(rec.status, rec.error ?? "").toBe("succeeded");
      expect(extrasOf(s)).toEqual({ token: "new", cred: "new", tls: "new" });
      const stamp = path.basename(rec.asideDir!).replace("db.before-restore-", "");
      expect(extrasOf(s, `.before-restore-${stamp}`)).toEqual({ token: "old", cred: "old", tls: "old" });
      expect(databases(s)).toEqual({ db: "new", [path.basename(rec.asideDir!)]: "old" });
      expect(runK3s(s, "status")).toBe("active");
    }, 180_000);
  }
});

describe("SIGKILL during a rollback, then restart", () => {
  /** A server with a finished restore of everything (database, token, cred/, tls/), its agent stopped. */
  async function restored(): Promise<{ s: TestServer; restoreId: string }> {
    const s = freshServer();
    const first = await serve(s);
    const started = await call(first, "POST", "/restores", { source: { kind: "backup", setId }, confirm: true, include: EVERYTHING });
    const restoreId = started.json.restoreId;
    expect((await settled(first, restoreId)).status).toBe("succeeded");
    first.proc.kill("SIGTERM");
    await first.exited;
    return { s, restoreId };
  }

  /** Kills a rollback at `point`, starts the agent again and checks it finished: the old files back, the restored ones kept. */
  async function killRollbackAt(point: string, atCrash: (s: TestServer) => void): Promise<void> {
    const { s, restoreId } = await restored();
    const doomed = await serve(s, { LIFEBOAT_TEST_CRASH_AT: point });
    expect((await call(doomed, "POST", `/restores/${restoreId}/rollback`)).status).toBe(202);
    expect((await doomed.exited).signal).toBe("SIGKILL");
    atCrash(s);

    const agent = await serve(s);
    const rec = await settled(agent, restoreId);
    expect(rec.status, rec.error ?? "").toBe("rolled-back");
    const after = databases(s);
    expect(after.db).toBe("old");
    expect(Object.values(after).sort()).toEqual(["new", "old"]);
    expect(extrasOf(s)).toEqual({ token: "old", cred: "old", tls: "old" });
    const rolled = Object.keys(after).find((d) => d.startsWith("db.rolled-back-"))!;
    expect(extrasOf(s, rolled.slice(2))).toEqual({ token: "new", cred: "new", tls: "new" });
    expect(integrity(s.dbPath)).toBe("ok");
    expect(rec.after).toMatchObject({ quickCheck: { ok: true }, ownershipOk: true });
    expect(runK3s(s, "status")).toBe("active");
  }

  it('killed at "rollback:stopped" (k3s stopped, nothing moved yet)', async () => {
    await killRollbackAt("rollback:stopped", (s) => {
      expect(databases(s).db).toBe("new");
      expect(runK3s(s, "status")).toBe("inactive");
    });
  }, 240_000);

  it('killed between the two renames of db/ ("rollback:moved-restored-aside"): no db/ at all, both databases aside', async () => {
    await killRollbackAt("rollback:moved-restored-aside", (s) => {
      const atCrash = databases(s);
      expect(atCrash.db).toBeUndefined();
      expect(Object.values(atCrash).sort()).toEqual(["new", "old"]);
    });
  }, 240_000);

  it('killed inside the moves of tls/ ("rollback:tls-aside"): the old db/, token and cred/ back, tls/ in neither place', async () => {
    await killRollbackAt("rollback:tls-aside", (s) => {
      expect(databases(s).db).toBe("old");
      expect(extrasOf(s)).toEqual({ token: "old", cred: "old", tls: "none" });
    });
  }, 240_000);

  it('killed at "rollback:moved" (everything moved, owner and mode not yet set)', async () => {
    await killRollbackAt("rollback:moved", (s) => {
      expect(databases(s).db).toBe("old");
      expect(extrasOf(s)).toEqual({ token: "old", cred: "old", tls: "old" });
    });
  }, 240_000);
});

describe("a CLI restore killed while the service runs", () => {
  it('killed at "swap:moved-aside": the running service finishes it, without a restart; k3s runs again', async () => {
    const s = freshServer();
    const agent = await serve(s);
    const cliEnv = {
      PATH: process.env.PATH!,
      HOME: process.env.HOME ?? "/root",
      ...agentEnvFor(s),
      LIFEBOAT_BACKUP_DIR: backupDir,
      LIFEBOAT_PASSPHRASE_FILE: passFile,
      LIFEBOAT_OWNER: "1000:1000",
      LIFEBOAT_TEST_CRASH_AT: "swap:moved-aside",
    };
    const cli = startProcess(process.execPath, [BIN, "restore", setId, "--yes"], { env: cliEnv as unknown as NodeJS.ProcessEnv, group: false });
    agents.push(cli.child);
    expect((await cli.exited).signal).toBe("SIGKILL");
    // The CLI died with k3s stopped and db/ moved aside: nothing runs the cluster until someone finishes it.
    const list = await call(agent, "GET", "/restores");
    const restoreId = (list.json.restores as { id: string; status: string }[]).find((r) => r.status === "running")?.id;
    expect(restoreId).toBeTruthy();
    const rec = await settled(agent, restoreId!);
    expect(rec.status, rec.error ?? "").toBe("succeeded");
    expect(databases(s).db).toBe("new");
    expect(integrity(s.dbPath)).toBe("ok");
    expect(runK3s(s, "status")).toBe("active");
  }, 180_000);
});
