import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { acquireDatastoreLock, DatastoreBusyError } from "./lock";

// The datastore lock against real processes: a live holder keeps it; a holder that is gone loses it,
// also when its pid now names another process (pids are reused, and the lock outlives a reboot).
let stateDir: string;
let lockFile: string;
const children: ChildProcess[] = [];

/** A real, unrelated process that stays alive (its pid is "reused" from the lock's point of view). */
async function otherProcess(): Promise<number> {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  children.push(child);
  await new Promise((r) => child.once("spawn", r));
  return child.pid!;
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
}

/** What /proc says the process is: "<boot id>/<start time>" (lib/storage/pid-record.ts's format, read here independently). */
function identityOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const start = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  return `${readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()}/${start}`;
}

beforeEach(() => {
  stateDir = mkdtempSync(path.join(os.tmpdir(), "lifeboat-lock-"));
  mkdirSync(path.join(stateDir, "restores"), { recursive: true });
  lockFile = path.join(stateDir, "restores", ".lock");
});
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
  rmSync(stateDir, { recursive: true, force: true });
});

describe("the datastore lock", () => {
  it("names its holder by pid, boot and start time, refuses a second taker and is free again once released", () => {
    const release = acquireDatastoreLock({ stateDir });
    expect(readFileSync(lockFile, "utf8")).toBe(`${process.pid}\n${identityOf(process.pid)}\n`);
    expect(() => acquireDatastoreLock({ stateDir })).toThrow(DatastoreBusyError);
    release();
    expect(existsSync(lockFile)).toBe(false);
    acquireDatastoreLock({ stateDir })();
  });

  it("stays with a live holder in another process", async () => {
    const pid = await otherProcess();
    writeFileSync(lockFile, `${pid}\n${identityOf(pid)}\n`);
    expect(() => acquireDatastoreLock({ stateDir })).toThrow(new DatastoreBusyError(pid));
    expect(readFileSync(lockFile, "utf8")).toBe(`${pid}\n${identityOf(pid)}\n`);
  });

  it("is taken over when its pid now belongs to another process (the holder died, the pid was reused)", async () => {
    const pid = await otherProcess();
    const [boot, start] = identityOf(pid).split("/");
    // The holder ran in this boot but started earlier than the process that has its pid now.
    writeFileSync(lockFile, `${pid}\n${boot}/${Number(start) - 1}\n`);
    const release = acquireDatastoreLock({ stateDir });
    expect(readFileSync(lockFile, "utf8")).toBe(`${process.pid}\n${identityOf(process.pid)}\n`);
    release();
  });

  it("is taken over when it names this very agent from an earlier boot (same pid after a reboot)", () => {
    const [, start] = identityOf(process.pid).split("/");
    writeFileSync(lockFile, `${process.pid}\n00000000-0000-0000-0000-000000000000/${start}\n`);
    acquireDatastoreLock({ stateDir })();
  });

  it("is taken over when its holder is gone, and when it holds no pid (a torn write)", async () => {
    const pid = await otherProcess();
    const id = identityOf(pid);
    await stop(children.pop()!);
    writeFileSync(lockFile, `${pid}\n${id}\n`);
    acquireDatastoreLock({ stateDir })();
    writeFileSync(lockFile, "");
    acquireDatastoreLock({ stateDir })();
  });

  it("is taken over from a holder that exited but was not reaped yet (a zombie keeps its pid)", async () => {
    // sh starts a short sleep in the background, then becomes a long sleep that never reaps it.
    const parent = spawn("sh", ["-c", "sleep 0.1 & echo $!; exec sleep 30"], { stdio: ["ignore", "pipe", "ignore"] });
    children.push(parent);
    const pid = Number(await new Promise<string>((r) => parent.stdout!.once("data", (d: Buffer) => r(d.toString()))));
    const id = identityOf(pid);
    for (let i = 0; i < 50 && !/^\d+ \(sleep\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8")); i++) await new Promise((r) => setTimeout(r, 50));
    expect(readFileSync(`/proc/${pid}/stat`, "utf8")).toMatch(/\) Z /);
    writeFileSync(lockFile, `${pid}\n${id}\n`);
    acquireDatastoreLock({ stateDir })();
  });

  it("keeps the old format (a pid alone): a live pid keeps the lock, a dead one loses it", async () => {
    const pid = await otherProcess();
    writeFileSync(lockFile, String(pid));
    expect(() => acquireDatastoreLock({ stateDir })).toThrow(DatastoreBusyError);
    await stop(children.pop()!);
    acquireDatastoreLock({ stateDir })();
  });
});
