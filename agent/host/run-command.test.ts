import { describe, expect, it } from "vitest";
import { describeFailure, runCommand } from "./run-command";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("runCommand", () => {
  it("gives the exit code and output of a shell line", async () => {
    const res = await runCommand("echo out; echo err >&2; exit 3");
    expect(res).toEqual({ code: 3, stdout: "out", stderr: "err", timedOut: false });
    expect(describeFailure(res)).toBe("exit 3: err");
  });

  it("on timeout kills the shell's children too, and answers although a child held its output", async () => {
    // The shell starts a child that inherits stdout (like a systemctl that hangs) and waits for it.
    const res = await runCommand("sleep 60 & echo $!; wait", 300);
    expect(res.timedOut).toBe(true);
    const pid = Number(res.stdout);
    expect(pid).toBeGreaterThan(0);
    await expect.poll(() => alive(pid), { timeout: 5_000 }).toBe(false);
  }, 20_000);

  it("answers when the shell exits but a background child keeps its output open", async () => {
    const res = await runCommand("sleep 60 & echo $!", 60_000);
    expect(res).toMatchObject({ code: 0, timedOut: false });
    process.kill(Number(res.stdout), "SIGKILL");
  }, 20_000);

  it("keeps a bounded part of a flood of output", async () => {
    const res = await runCommand("head -c 5000000 /dev/zero | tr '\\0' x");
    expect(res.code).toBe(0);
    expect(res.stdout.length).toBe(64 * 1024);
  });
});
