/**
 * The soak's verdict (bench/soak.ts), as plain functions of what it recorded: whether every good job
 * succeeded, the damaged object failed cleanly every time, and the agent's memory and open files
 * stayed flat.
 */

/** One sample of the agent process, from /proc. */
export interface ProcSample {
  /** Milliseconds since the soak began. */
  atMs: number;
  rssBytes: number;
  fds: number;
}

export interface JobOutcome {
  kind: "backup" | "drill" | "damaged drill" | "health";
  ok: boolean;
  /** What went wrong (or the sentence the damaged drill failed with). */
  note: string;
  ms: number;
}

export interface FlatVerdict {
  ok: boolean;
  /** Medians (or floors) of the first and the last third of the run after its warm-up. */
  early: number;
  late: number;
  allowed: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : 0;
};

/**
 * Whether `value` stayed flat: after a warm-up (the first quarter of the run, at least 90 s: modules
 * load, the heap and the worker threads settle — measured, RSS climbs ~50 MB over the first
 * backup and drill and ~20 MB more over the next), the median of the last third exceeds the median
 * of the first third by no more than `allowed` (absolute, or relative to the early median, whichever
 * is more). A leak grows with the number of jobs, so it shows between the two; a job in flight at one
 * sample does not move a median. With the soak's allowance (12 MB or 10 %) a leak of 1 MB a minute
 * fails a 30-minute run. Fewer than 4 samples after warm-up is not flat.
 */
export function flatness(
  samples: ProcSample[],
  value: (s: ProcSample) => number,
  allowance: { absolute: number; relative: number },
  of: "median" | "floor" = "median",
): FlatVerdict {
  const end = samples.length ? samples[samples.length - 1].atMs : 0;
  const warm = Math.max(end / 4, 90_000);
  const third = (end - warm) / 3;
  const stat = of === "median" ? median : (xs: number[]) => (xs.length ? Math.min(...xs) : 0);
  const early = stat(samples.filter((s) => s.atMs >= warm && s.atMs <= warm + third).map(value));
  const late = stat(samples.filter((s) => s.atMs >= end - third).map(value));
  const allowed = Math.max(allowance.absolute, early * allowance.relative);
  if (samples.filter((s) => s.atMs >= warm).length < 4) return { ok: false, early, late, allowed };
  return { ok: late - early <= allowed, early, late, allowed };
}

export interface SoakVerdict {
  ok: boolean;
  /** One line per reason it failed (empty when it passed). */
  failures: string[];
}

/**
 * The verdict: every good job succeeded (and at least `minGood` backups and drills ran), the damaged
 * object's drill failed with a sentence every time it ran (at least once), the agent never exited,
 * and RSS (12 MB or 10 %) and open files (4) stayed flat.
 */
export function soakVerdict(input: { outcomes: JobOutcome[]; samples: ProcSample[]; agentExited: string | null; minGood: number }): SoakVerdict {
  const failures: string[] = [];
  if (input.agentExited) failures.push(`the agent exited: ${input.agentExited}`);
  for (const kind of ["backup", "drill", "damaged drill", "health"] as const) {
    const of = input.outcomes.filter((o) => o.kind === kind);
    const bad = of.filter((o) => !o.ok);
    const need = kind === "health" || kind === "damaged drill" ? 1 : input.minGood;
    if (of.length < need) failures.push(`only ${of.length} ${kind} run(s), expected at least ${need}`);
    for (const b of bad.slice(0, 5)) failures.push(`${kind} failed: ${b.note}`);
    if (bad.length > 5) failures.push(`… and ${bad.length - 5} more ${kind} failures`);
  }
  const rss = flatness(input.samples, (s) => s.rssBytes, { absolute: 12 * 1024 ** 2, relative: 0.1 });
  if (!rss.ok)
    failures.push(
      `RSS grew: ${(rss.early / 1e6).toFixed(1)} MB → ${(rss.late / 1e6).toFixed(1)} MB (allowed +${(rss.allowed / 1e6).toFixed(1)} MB; ${input.samples.length} samples)`,
    );
  // Open files by their floor, what the agent holds between jobs: a job in flight opens ~10 (its
  // archive, sockets, a worker's), and in `npm test`'s 2-minute soak a third is 2–3 samples, so one
  // job caught in two of them moved the median by 6 with nothing leaking (CI, 2026-12-04: floors 30
  // and 31; a 5-minute run stayed at 30). A leak raises the floor.
  const fds = flatness(input.samples, (s) => s.fds, { absolute: 4, relative: 0 }, "floor");
  if (!fds.ok) failures.push(`open files grew: ${fds.early} → ${fds.late} (allowed +${fds.allowed}; ${input.samples.length} samples)`);
  return { ok: failures.length === 0, failures };
}
