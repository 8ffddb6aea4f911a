import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startProcess, waitForListening, type RunningProcess } from "../../lib/process";

/**
 * One `serve` per state directory: an operator's second one (by hand, on another port, beside
 * systemd's) refuses to start with a sentence naming the running one, instead of both shipping the
 * log from one position and spool and both running the schedules. A lock left by a killed service is
 * taken over, also when its pid now names an unrelated live process.
 */

const BIN = path.resolve(import.meta.dirname, "../bin/lifeboat-agent.js");
let work: string;
const procs: RunningProcess[] = [];
const others: ChildProcess[] = [];

function serve(stateDir = path.join(work, "state")): RunningProcess {
  const p = startProcess(process.execPath, [BIN, "serve"], {
    env: {
      PATH: process.env.PATH!,
      HOME: process.env.HOME ?? "/root",
      LIFEBOAT_K3S_SERVER_DIR: path.join(work, "server"),
      LIFEBOAT_STATE_DIR: stateDir,
      LIFEBOAT_BACKUP_DIR: path.join(work, "backups"),
      LIFEBOAT_AGENT_TOKEN: "serve-lock-test-token-0123456789abcdef",
      LIFEBOAT_AGENT_HOST: "127.0.0.1",
      LIFEBOAT_AGENT_PORT: "0",
      LIFEBOAT_AGENT_INSECURE_HTTP: "true",
      LIFEBOAT_BACKUP_SCHEDULE: "off",
      LIFEBOAT_INTEGRITY_SCHEDULE: "off",
      LOG_LEVEL: "silent",
    } as unknown as NodeJS.ProcessEnv,
    group: false,
  });
  procs.push(p);
  return p;
}

/** "<boot id>/<start time>" of a process, read from /proc here (lib/storage/pid-record.ts's format). */
function identityOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const start = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  return `${readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()}/${start}`;
}

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-serve-lock-"));
  mkdirSync(path.join(work, "server", "db"), { recursive: true });
  mkdirSync(path.join(work, "backups"));
});
afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
  for (const o of others) o.kill("SIGKILL");
  await Promise.all(procs.map((p) => p.exited));
  rmSync(work, { recursive: true, force: true });
});

describe("one serve per state directory", () => {
  it("a second serve refuses to start while one runs; a killed one's lock is taken over, also when its pid names another process now", async () => {
    const first = serve();
    await waitForListening(first, { timeoutMs: 60_000, what: "the first agent" });
    const second = serve();
    const exit = await Promise.race([second.exited, waitForListening(second, { timeoutMs: 60_000 }).then(() => "listening" as const)]);
    expect(exit, second.output()).toEqual({ code: 1, signal: null });
    expect(second.output()).toContain(
      `Another lifeboat-agent serve (pid ${first.child.pid}) already runs with the state directory ${path.join(work, "state")}: two would both ship the log and run the schedules.`,
    );
    expect(second.output()).not.toMatch(/listening/);
    const lockFile = path.join(work, "state", "serve.lock");
    expect(readFileSync(lockFile, "utf8").split("\n")[0]).toBe(String(first.child.pid));

    first.child.kill("SIGKILL");
    await first.exited;
    expect(existsSync(lockFile)).toBe(true);
    // The dead service's pid now belongs to an unrelated live process (a reboot, pid reuse).
    const other = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
    others.push(other);
    await new Promise((r) => other.once("spawn", r));
    const [boot, start] = identityOf(other.pid!).split("/");
    writeFileSync(lockFile, `${other.pid}\n${boot}/${Number(start) - 1}\n`);
    const third = serve();
    const url = await waitForListening(third, { timeoutMs: 60_000, what: "the agent after the killed one" });
    // Answering a request: past the line it prints, its SIGTERM handler is in place.
    expect((await fetch(`${url}/livez`)).status).toBe(200);
    expect(readFileSync(lockFile, "utf8").split("\n")[0]).toBe(String(third.child.pid));
    third.child.kill("SIGTERM");
    expect((await third.exited).code).toBe(0);
    // A service that stopped lets go of its lock.
    expect(existsSync(lockFile)).toBe(false);
  }, 120_000);
});

it("a state directory it cannot write does not keep serve from starting (health and metrics say what is wrong)", async () => {
  const notADir = path.join(work, "state-is-a-file");
  writeFileSync(notADir, "not a directory\n");
  const p = serve(notADir);
  const url = await waitForListening(p, { timeoutMs: 60_000, what: "the agent on a broken state directory" });
  expect((await fetch(`${url}/livez`)).status).toBe(200);
  p.child.kill("SIGTERM");
  await p.exited;
}, 60_000);
