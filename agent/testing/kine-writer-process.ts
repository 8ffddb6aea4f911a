import { fileURLToPath } from "node:url";
import path from "node:path";
import type { ChildProcess } from "node:child_process";
import { startProcess } from "../../lib/process";
import type { WriterReport } from "../demo/kine-writer";
import { demoTools } from "../demo/plain-js";

/** The kine writer (agent/demo/kine-writer.ts) as a child process of a test or benchmark. */

export interface KineWriterOptions {
  db: string;
  intervalMs?: number;
  /** 0 turns compaction off. */
  compactEveryMs?: number;
  seed?: number;
  nodes?: number;
  token?: string;
}

export interface RunningKineWriter {
  process: ChildProcess;
  /** Asks for a report (SIGUSR2) and resolves with it. */
  report(): Promise<WriterReport>;
  /** Stops the writer (SIGTERM) and resolves with its final report. */
  stop(): Promise<WriterReport>;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const WRITER = path.join(ROOT, "agent", "demo", "kine-writer.ts");

/** The writer's JSON line, or null for anything else it prints. */
function event(line: string): Record<string, unknown> | null {
  try {
    const msg = JSON.parse(line) as unknown;
    return msg && typeof msg === "object" && "event" in msg ? (msg as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Starts the writer (plain JavaScript from demoTools, else `node --import tsx`) and resolves once it
 * reports "ready". Rejects with its error output when it reports an error or exits first.
 */
export async function spawnKineWriter(opts: KineWriterOptions): Promise<RunningKineWriter> {
  const built = demoTools();
  const args = [...(built ? [built.kineWriter] : ["--import", "tsx", WRITER]), "--db", opts.db];
  if (opts.intervalMs !== undefined) args.push("--interval-ms", String(opts.intervalMs));
  if (opts.compactEveryMs !== undefined) args.push("--compact-every-ms", String(opts.compactEveryMs));
  if (opts.seed !== undefined) args.push("--seed", String(opts.seed));
  if (opts.nodes !== undefined) args.push("--nodes", String(opts.nodes));
  if (opts.token !== undefined) args.push("--token", opts.token);
  const waiters: { event: string; resolve(v: Record<string, unknown>): void; reject(e: Error): void }[] = [];
  let lastError = "";
  const proc = startProcess(process.execPath, args, {
    cwd: ROOT,
    group: false,
    onLine(line, stream) {
      const msg = stream === "stdout" ? event(line) : null;
      if (!msg) return;
      if (msg.event === "error") lastError = String(msg.message);
      const i = waiters.findIndex((w) => w.event === msg.event || msg.event === "error");
      if (i < 0) return;
      const [w] = waiters.splice(i, 1);
      if (msg.event === "error") w.reject(new Error(`kine writer: ${msg.message}`));
      else w.resolve(msg);
    },
  });
  let exited: Error | null = null;
  void proc.exited.then(async ({ code }) => {
    // "exit" can come before the child's last lines are read (its "stopped" after SIGTERM, on a busy
    // machine): they are delivered first, or stop() would fail with the exit it asked for.
    const out = proc.child.stdout;
    if (out && !out.closed) await new Promise((resolve) => out.once("close", resolve));
    exited = new Error(`kine writer exited (${code})${lastError ? `: ${lastError}` : ""} ${proc.output().trim()}`.trim());
    for (const w of waiters.splice(0)) w.reject(exited);
  });
  const wait = (name: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      if (exited) reject(exited);
      else waiters.push({ event: name, resolve, reject });
    });
  await wait("ready");
  return {
    process: proc.child,
    async report() {
      const p = wait("report");
      proc.child.kill("SIGUSR2");
      return (await p) as unknown as WriterReport;
    },
    async stop() {
      const p = wait("stopped");
      proc.child.kill("SIGTERM");
      return (await p) as unknown as WriterReport;
    },
  };
}
