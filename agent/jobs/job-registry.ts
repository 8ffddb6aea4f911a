import { randomUUID } from "node:crypto";
import type { Job, JobStep, JobType } from "../../lib/contracts/agent-jobs";
import { DomainError } from "../../lib/contracts/errors";

/** Thrown by `start` when a job in the same exclusivity group is still running (`job_running`, with the running job's `jobId`). */
export class JobRunningError extends DomainError {
  constructor(
    readonly jobId: string,
    group: string,
  ) {
    super("job_running", `A ${group} job is already running (${jobId}); wait for it to finish.`, { details: { jobId } });
  }
}

/**
 * A job made no progress (no step, detail or byte count changed, no `touch`) for the registry's
 * stall time (LIFEBOAT_JOB_STALL_SECONDS): it is stopped. The message is the sentence the job ends with.
 */
export class JobStalledError extends Error {
  constructor(type: JobType, stallMs: number, step: string | null) {
    super(
      `The ${type} made no progress for ${Math.round(stallMs / 1000)} s${step ? ` during "${step}"` : ""} and was stopped (LIFEBOAT_JOB_STALL_SECONDS). Check the store, the network and the disk, then try again.`,
    );
    this.name = "JobStalledError";
  }
}

/** What a job's body gets to report progress with. */
export interface JobHandle {
  readonly id: string;
  /** Aborted (with a JobStalledError) when the job stalls: every stream and wait of the body should end on it. */
  readonly signal: AbortSignal;
  /** Marks `name` running (and the previous running step done). */
  step(name: string, detail?: string): void;
  /** Sets the detail text of a step without changing its state. */
  detail(name: string, detail: string): void;
  skip(name: string, detail?: string): void;
  progress(bytesDone: number, bytesTotal?: number | null): void;
  /** Progress that shows in no number: work the job knows is advancing (a worker busy with integrity_check). */
  touch(): void;
  snapshot(): Job;
}

export interface StartOptions<R> {
  type: JobType;
  /** Jobs with the same group never run at once (e.g. "backup", "datastore"). */
  group: string;
  steps: { name: string; label: string }[];
  run(job: JobHandle): Promise<R>;
  /** Turns a thrown error into the sentence shown to the user. Default: the error's message. */
  describeError?(err: unknown): string;
  onFinish?(job: Job): void;
  /**
   * What a stall does. "end" (default): the job fails at once with JobStalledError, whatever its body
   * is doing (and `signal` tells the body to stop). "signal": only `signal` is aborted and the body
   * decides when to end: for a restore, which must not be abandoned halfway through moving files.
   */
  onStall?: "end" | "signal";
}

export interface JobRegistryOptions {
  /** A job without progress for this long is stopped (JobStalledError); 0 never. */
  stallMs?: number;
}

/** Rejects with the signal's reason once it aborts (never resolves). */
export function whenAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

/** In-memory registry of the agent's long-running jobs: one per group at a time, last 100 kept, each stopped when it stalls. */
export class JobRegistry {
  private jobs = new Map<string, Job>();
  private running = new Map<string, string>();
  private readonly stallMs: number;

  constructor(opts: JobRegistryOptions = {}) {
    this.stallMs = opts.stallMs ?? 0;
  }

  get(id: string): Job | undefined {
    const j = this.jobs.get(id);
    return j && structuredClone(j);
  }

  list(): Job[] {
    return [...this.jobs.values()].map((j) => structuredClone(j)).reverse();
  }

  runningIn(group: string): string | undefined {
    return this.running.get(group);
  }

  /** Starts a job in the background and returns its id at once. Throws JobRunningError on conflict. */
  start<R>(opts: StartOptions<R>): { id: string; done: Promise<Job> } {
    const busy = this.running.get(opts.group);
    if (busy) throw new JobRunningError(busy, opts.group);
    const id = randomUUID();
    const now = () => new Date().toISOString();
    const job: Job = {
      id,
      type: opts.type,
      state: "running",
      step: null,
      steps: opts.steps.map((s): JobStep => ({ ...s, state: "pending", startedAt: null, finishedAt: null, detail: null })),
      bytesDone: 0,
      bytesTotal: null,
      startedAt: now(),
      finishedAt: null,
      error: null,
      result: null,
    };
    this.jobs.set(id, job);
    this.running.set(opts.group, id);
    this.trim();
    const find = (name: string) => {
      const s = job.steps.find((x) => x.name === name);
      if (!s) throw new Error(`job ${opts.type} has no step ${name}`);
      return s;
    };
    const stall = new AbortController();
    let lastProgress = Date.now();
    const touch = () => (lastProgress = Date.now());
    const stallMs = this.stallMs;
    const watchdog =
      stallMs > 0
        ? setInterval(
            () => {
              if (Date.now() - lastProgress < stallMs) return;
              clearInterval(watchdog);
              stall.abort(new JobStalledError(opts.type, stallMs, job.steps.find((s) => s.state === "running")?.label ?? null));
            },
            Math.min(1000, stallMs / 4),
          )
        : undefined;
    watchdog?.unref();
    const handle: JobHandle = {
      id,
      signal: stall.signal,
      step(name, detail) {
        touch();
        for (const s of job.steps) if (s.state === "running") Object.assign(s, { state: "done", finishedAt: now() });
        const s = find(name);
        Object.assign(s, { state: "running", startedAt: now(), detail: detail ?? s.detail });
        job.step = name;
      },
      detail(name, detail) {
        touch();
        find(name).detail = detail;
      },
      skip(name, detail) {
        touch();
        Object.assign(find(name), { state: "skipped", detail: detail ?? null });
      },
      progress(done, total) {
        if (done !== job.bytesDone) touch();
        job.bytesDone = done;
        if (total !== undefined) job.bytesTotal = total;
      },
      touch,
      snapshot: () => structuredClone(job),
    };
    const done = (async () => {
      try {
        const body = opts.run(handle);
        let result: R;
        if ((opts.onStall ?? "end") === "end") {
          // A body that ignores the signal still ends here; what it does afterwards is not this job's.
          body.catch(() => {});
          result = await Promise.race([body, whenAborted(stall.signal)]);
        } else result = await body;
        for (const s of job.steps) if (s.state === "running") Object.assign(s, { state: "done", finishedAt: now() });
        Object.assign(job, { state: "succeeded", result: result ?? null, finishedAt: now() });
      } catch (err) {
        for (const s of job.steps) if (s.state === "running") Object.assign(s, { state: "failed", finishedAt: now() });
        Object.assign(job, {
          state: "failed",
          error: opts.describeError ? opts.describeError(err) : ((err as Error)?.message ?? String(err)),
          finishedAt: now(),
        });
      } finally {
        clearInterval(watchdog);
        this.running.delete(opts.group);
      }
      const snap = structuredClone(job);
      opts.onFinish?.(snap);
      return snap;
    })();
    return { id, done };
  }

  private trim(): void {
    if (this.jobs.size <= 100) return;
    for (const [id, j] of this.jobs) {
      if (this.jobs.size <= 100) break;
      if (j.state !== "running") this.jobs.delete(id);
    }
  }
}
