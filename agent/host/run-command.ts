import { spawn } from "node:child_process";

/**
 * The host's configured commands (LIFEBOAT_K3S_START_CMD / _STOP_CMD / _STATUS_CMD) run as shell
 * lines. (lib/process's runProcess does the same for tests and launchers; the agent's production
 * code imports nothing from lib/ but contracts, storage and backups.)
 */

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a configured command line through `sh -c` (they are shell lines like "systemctl stop k3s"). Never rejects. */
export function runCommand(cmd: string, timeoutMs = 120_000): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn("sh", ["-c", cmd], { stdio: ["ignore", "pipe", "pipe"], detached: false });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (d) => (stdout += String(d)));
    child.stderr.on("data", (d) => (stderr += String(d)));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: stderr + String(err.message), timedOut });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: stdout.trim(), stderr: stderr.trim(), timedOut });
    });
  });
}

/** Why a command failed, for a sentence: "timed out" or "exit N", with the start of its stderr. Never throws. */
export function describeFailure(res: CommandResult): string {
  return `${res.timedOut ? "timed out" : `exit ${res.code}`}${res.stderr ? `: ${res.stderr.slice(0, 300)}` : ""}`;
}
