import { parseListeningInfo, parseListeningLine, type ListeningLine } from "../contracts/agent-cli";
import type { RunningProcess } from "./child-process";

/** Resolves with the URL an agent started with `serve` prints once it listens. Rejects when it exits first or after `timeoutMs`. */
export function waitForListening(proc: RunningProcess, opts: { timeoutMs?: number; what?: string } = {}): Promise<string> {
  return proc.waitForLine(parseListeningLine, { timeoutMs: opts.timeoutMs ?? 60_000, what: opts.what ?? "the agent" });
}

/** waitForListening, with the certificate fingerprint an HTTPS agent prints beside its URL. */
export function waitForListeningInfo(proc: RunningProcess, opts: { timeoutMs?: number; what?: string } = {}): Promise<ListeningLine> {
  return proc.waitForLine(parseListeningInfo, { timeoutMs: opts.timeoutMs ?? 60_000, what: opts.what ?? "the agent" });
}

/**
 * Polls `url` until it answers below 500. Rejects when `proc` exits first or `timeoutMs` passes
 * (with what it printed, when it was kept).
 */
export async function waitForHttp(url: string, opts: { timeoutMs: number; what: string; proc?: RunningProcess }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  const printed = () => (opts.proc?.output() ? `:\n${opts.proc.output()}` : "");
  for (;;) {
    const child = opts.proc?.child;
    if (child && (child.exitCode !== null || child.signalCode !== null))
      throw new Error(`${opts.what} exited with ${child.signalCode ?? `code ${child.exitCode}`} before answering${printed()}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (r.status < 500) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${opts.what} did not answer ${url} within ${opts.timeoutMs / 1000} s${printed()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
