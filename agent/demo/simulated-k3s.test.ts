import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { simulatedK3sCommands } from "./simulated-k3s";
import { pidAlive as alive } from "../../lib/storage/pid-record";
import { simulatedK3sRunning } from "../../lib/kube/simulator/demo-cluster";

describe("the simulated k3s's process check", () => {
  it("counts an exited process its parent has not reaped yet (a zombie) as stopped, and a running one as running", async () => {
    // `sh` starts a short sleep in the background, then becomes a long sleep that never reaps it: the
    // short one stays a zombie, as the kine writer does under init after a stop, until it is reaped.
    const parent = spawn("sh", ["-c", "sleep 0.2 & echo $!; exec sleep 30"], { stdio: ["ignore", "pipe", "ignore"] });
    try {
      const pid = Number(await new Promise<string>((resolve) => parent.stdout.once("data", (d: Buffer) => resolve(d.toString().trim()))));
      expect(alive(pid)).toBe(true);
      const deadline = Date.now() + 10_000;
      const state = () => {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat[stat.lastIndexOf(")") + 2];
      };
      while (Date.now() < deadline && state() !== "Z") await new Promise((r) => setTimeout(r, 20));
      // Still there for signals (kill -0 succeeds on a zombie), but not running.
      expect(state()).toBe("Z");
      expect(() => process.kill(pid, 0)).not.toThrow();
      expect(alive(pid)).toBe(false);
      expect(alive(parent.pid!)).toBe(true);
    } finally {
      parent.kill("SIGKILL");
    }
  });
});

describe("the simulated k3s's pid file, after its writer is gone and its pid reused", () => {
  it("is not taken for the writer: status says inactive, the dashboard sees k3s stopped, and stop signals nothing", async () => {
    const base = mkdtempSync(path.join(os.tmpdir(), "lifeboat-k3s-pid-"));
    const serverDir = path.join(base, "server");
    mkdirSync(serverDir);
    const pidFile = path.join(base, "simulated-k3s.pid");
    // An unrelated process that now has the pid the file names (as after a reboot).
    const other = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
    try {
      await new Promise((r) => other.once("spawn", r));
      const stat = readFileSync(`/proc/${other.pid}/stat`, "utf8");
      const start = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
      const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
      const cmds = simulatedK3sCommands(serverDir);
      const sh = (cmd: string) => spawnSync("sh", ["-c", cmd], { encoding: "utf8" });

      // The file names the pid with the identity of the writer that had it: an earlier start time.
      writeFileSync(pidFile, `${other.pid}\n${boot}/${start - 1}\n`);
      const status = sh(cmds.status);
      expect([status.status, status.stdout.trim()]).toEqual([3, "inactive"]);
      expect(simulatedK3sRunning(serverDir)).toBe(false);
      expect(sh(cmds.stop).status).toBe(0);
      await new Promise((r) => setTimeout(r, 300));
      expect(alive(other.pid!), "stop must not signal a process that is not the writer").toBe(true);
      expect(existsSync(pidFile)).toBe(false);

      // The same pid with its own identity is the writer: active, and stop ends it.
      writeFileSync(pidFile, `${other.pid}\n${boot}/${start}\n`);
      expect(sh(cmds.status).stdout.trim()).toBe("active");
      expect(simulatedK3sRunning(serverDir)).toBe(true);
      const exited = new Promise((r) => other.once("exit", r));
      expect(sh(cmds.stop).status).toBe(0);
      await exited;
    } finally {
      other.kill("SIGKILL");
      rmSync(base, { recursive: true, force: true });
    }
  }, 60_000);
});
