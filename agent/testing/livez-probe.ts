import { readFileSync } from "node:fs";

/**
 * Asks an agent's /livez over and over while it works, and says how long its main thread kept it
 * waiting. On a shared machine a slow answer is often the scheduler's doing (another process had
 * the CPU), so each probe is also read against /proc's schedstat of the agent's main thread and of
 * this one: `blockedMs` is the part of the wait that neither thread spent waiting for a CPU, and
 * never more than the CPU time the agent's main thread used meanwhile. A main thread busy with one
 * long synchronous task (a VACUUM INTO, a quick_check) shows as `blockedMs` near that task's
 * length, load on the machine does not.
 */

export interface PhaseStats {
  probes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The longest a probe waited for the agent's own work (see the module comment). */
  maxBlockedMs: number;
}

export interface LivezProbe {
  /** Probes from now on count under `name`. */
  phase(name: string): void;
  /** Stops probing; resolves with the statistics per phase. */
  stop(): Promise<Record<string, PhaseStats>>;
}

/** [on-CPU ms, runqueue-wait ms] of thread `tid` of process `pid`, or null where schedstat is not available. */
function sched(pid: number, tid = pid): [number, number] | null {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ").map(Number);
    return [run / 1e6, wait / 1e6];
  } catch {
    return null;
  }
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

/** Starts probing `url`/livez every `everyMs` (an agent whose main thread is process `pid`). */
export function probeLivez(url: string, pid: number, opts: { everyMs?: number } = {}): LivezProbe {
  const samples = new Map<string, { lat: number[]; blocked: number }>();
  let current = "start";
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const a0 = sched(pid);
      const p0 = sched(process.pid);
      const t0 = performance.now();
      try {
        await fetch(`${url}/livez`, { signal: AbortSignal.timeout(30_000) });
      } catch {
        // counted as a 30 s wait below: an agent that does not answer at all is blocked
      }
      const lat = performance.now() - t0;
      const a1 = sched(pid);
      const p1 = sched(process.pid);
      let blocked = lat;
      if (a0 && a1 && p0 && p1) blocked = Math.max(0, Math.min(lat - (a1[1] - a0[1]) - (p1[1] - p0[1]), a1[0] - a0[0]));
      const s = samples.get(current) ?? { lat: [], blocked: 0 };
      s.lat.push(lat);
      s.blocked = Math.max(s.blocked, blocked);
      samples.set(current, s);
      await new Promise((r) => setTimeout(r, opts.everyMs ?? 20));
    }
  })();
  return {
    phase(name) {
      current = name;
    },
    async stop() {
      stopped = true;
      await loop;
      const out: Record<string, PhaseStats> = {};
      for (const [name, s] of samples) {
        const sorted = [...s.lat].sort((x, y) => x - y);
        out[name] = { probes: sorted.length, p50Ms: pct(sorted, 50), p99Ms: pct(sorted, 99), maxMs: sorted[sorted.length - 1], maxBlockedMs: s.blocked };
      }
      return out;
    },
  };
}
