import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { alive } from "./simulated-k3s";

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
