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

/** What is kept of each output stream: enough for a sentence, bounded whatever a command prints. */
const KEEP_CHARS = 64 * 1024;
/** After the shell exits, how long its output may stay open (a background child holding the pipe). */
const DRAIN_MS = 2_000;

/**
 * Runs a configured command line through `sh -c` (they are shell lines like "systemctl stop k3s").
 * The line runs in its own process group: on timeout the whole group is killed, so a child the
 * shell started (a hanging `systemctl`) cannot keep the restore waiting on its output. Never rejects.
 */
export function runCommand(cmd: string, timeoutMs = 120_000): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn("sh", ["-c", cmd], { stdio: ["ignore", "pipe", "pipe"], detached: true });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    let settled = false;
    let drain: NodeJS.Timeout | undefined;
    const keep = (acc: string, d: Buffer) => (acc.length >= KEEP_CHARS ? acc : (acc + String(d)).slice(0, KEEP_CHARS));
    child.stdout.on("data", (d: Buffer) => (stdout = keep(stdout, d)));
    child.stderr.on("data", (d: Buffer) => (stderr = keep(stderr, d)));
    const finish = (code: number | null, extra = "") => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(drain);
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ code, stdout: stdout.trim(), stderr: (stderr + extra).trim(), timedOut });
    };
    const killGroup = () => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // the group is gone already
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, timeoutMs);
    child.on("error", (err) => finish(null, String(err.message)));
    // "close" waits for the output pipes; a background process that inherited them may hold them
    // long after the shell exited, so the exit code counts once the pipes had a moment to drain.
    child.on("exit", (code) => {
      drain = setTimeout(() => finish(code), DRAIN_MS);
      if (timedOut) killGroup();
    });
    child.on("close", (code) => finish(code));
  });
}

/** Why a command failed, for a sentence: "timed out" or "exit N", with the start of its stderr. Never throws. */
export function describeFailure(res: CommandResult): string {
  return `${res.timedOut ? "timed out" : `exit ${res.code}`}${res.stderr ? `: ${res.stderr.slice(0, 300)}` : ""}`;
}
