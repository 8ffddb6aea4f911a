import { spawn, type ChildProcess } from "node:child_process";

/**
 * Starting and stopping child processes for the launcher (`npm start`), tests, benchmarks and the
 * browser tests' support code: one way to start a process, read its lines, wait for it and stop it
 * with everything it started (its process group).
 */

export interface StartProcessOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * Run it in its own process group (default true), so `stop()` also ends what it started: `next
   * start` runs a next-server below it, which a plain kill would leave orphaned, holding the port.
   */
  group?: boolean;
  /** Called with each line it prints, without the newline. */
  onLine?(line: string, stream: "stdout" | "stderr"): void;
  /** Keep what it prints for `output()` and error messages (default true). */
  keepOutput?: boolean;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunningProcess {
  child: ChildProcess;
  /** What it printed so far, stdout and stderr as they came (empty with `keepOutput: false`). */
  output(): string;
  /** Resolves when it has exited. */
  readonly exited: Promise<Exit>;
  /**
   * Resolves with the first non-null value `match` returns for a line of its stdout (lines printed
   * before the call count too). Rejects when it exits first or `timeoutMs` passes, with its output.
   */
  waitForLine<T>(match: (line: string) => T | null | undefined, opts: { timeoutMs: number; what: string }): Promise<T>;
  /** Stops it and its process group (killGroup); resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Splits a stream's data into lines; the last unterminated piece is passed on at its end. */
function forEachLine(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buf = "";
  stream.on("data", (d) => {
    buf += String(d);
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      onLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
  stream.on("end", () => {
    if (buf) onLine(buf);
    buf = "";
  });
}

/** Starts `command args` with stdout and stderr piped to us (see StartProcessOptions). Never throws: a failed spawn shows as an exit. */
export function startProcess(command: string, args: string[], opts: StartProcessOptions = {}): RunningProcess {
  const child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"], detached: opts.group ?? true });
  const keep = opts.keepOutput ?? true;
  let out = "";
  const stdoutLines: string[] = [];
  const lineWaiters = new Set<(line: string) => void>();
  forEachLine(child.stdout!, (line) => {
    if (keep) out += line + "\n";
    stdoutLines.push(line);
    if (stdoutLines.length > 1000) stdoutLines.shift();
    opts.onLine?.(line, "stdout");
    for (const w of [...lineWaiters]) w(line);
  });
  forEachLine(child.stderr!, (line) => {
    if (keep) out += line + "\n";
    opts.onLine?.(line, "stderr");
  });
  const exited = new Promise<Exit>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", (err) => {
      if (keep) out += `${command}: ${err.message}\n`;
      if (child.exitCode === null && child.signalCode === null) resolve({ code: null, signal: null });
    });
  });
  const output = () => out;
  const stdoutClosed = new Promise((resolve) => child.stdout!.once("close", resolve));
  return {
    child,
    output,
    exited,
    waitForLine<T>(match: (line: string) => T | null | undefined, w: { timeoutMs: number; what: string }): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          lineWaiters.delete(onLine);
        };
        const onLine = (line: string) => {
          let v: T | null | undefined;
          try {
            v = match(line);
          } catch (err) {
            done();
            return reject(err);
          }
          if (v === null || v === undefined) return;
          done();
          resolve(v);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${w.what} was not ready within ${w.timeoutMs / 1000} s${out ? `:\n${out}` : ""}`));
        }, w.timeoutMs);
        lineWaiters.add(onLine);
        for (const line of [...stdoutLines]) if (lineWaiters.has(onLine)) onLine(line);
        // The last lines may arrive after the exit: give stdout a moment to end first.
        void exited.then(async ({ code, signal }) => {
          await Promise.race([stdoutClosed, new Promise((r) => setTimeout(r, 1000))]);
          if (!lineWaiters.has(onLine)) return;
          done();
          reject(new Error(`${w.what} exited with ${signal ?? `code ${code}`}${out ? `:\n${out}` : ""}`));
        });
      });
    },
    stop: (graceMs?: number) => killGroup(child, graceMs),
  };
}

/**
 * Sends SIGTERM to a child's process group (or to the child alone when it leads none), then SIGKILL
 * after `graceMs`. Resolves once the child has exited. Never rejects.
 */
export function killGroup(child: ChildProcess, graceMs = 5000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return resolve();
    child.once("exit", () => resolve());
    const send = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        try {
          child.kill(sig);
        } catch {
          // already gone
        }
      }
    };
    send("SIGTERM");
    setTimeout(() => send("SIGKILL"), graceMs).unref();
  });
}

export interface ProcessRun extends Exit {
  stdout: string;
  stderr: string;
}

/** Runs a command to its end and resolves with its exit and output; SIGKILL after `timeoutMs`. Never rejects. */
export function runProcess(command: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<ProcessRun> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs) : undefined;
    child.once("error", (err) => (stderr += `${command}: ${err.message}\n`));
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
