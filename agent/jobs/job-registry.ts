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

/** What a job's body gets to report progress with. */
export interface JobHandle {
  readonly id: string;
  /** Marks `name` running (and the previous running step done). */
  step(name: string, detail?: string): void;
  /** Sets the detail text of a step without changing its state. */
  detail(name: string, detail: string): void;
  skip(name: string, detail?: string): void;
  progress(bytesDone: number, bytesTotal?: number | null): void;
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
}

/** In-memory registry of the agent's long-running jobs: one per group at a time, last 100 kept. */
export class JobRegistry {
  private jobs = new Map<string, Job>();
  private running = new Map<string, string>();

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
    const handle: JobHandle = {
      id,
      step(name, detail) {
        for (const s of job.steps) if (s.state === "running") Object.assign(s, { state: "done", finishedAt: now() });
        const s = find(name);
        Object.assign(s, { state: "running", startedAt: now(), detail: detail ?? s.detail });
        job.step = name;
      },
      detail(name, detail) {
        find(name).detail = detail;
      },
      skip(name, detail) {
        Object.assign(find(name), { state: "skipped", detail: detail ?? null });
      },
      progress(done, total) {
        job.bytesDone = done;
        if (total !== undefined) job.bytesTotal = total;
      },
      snapshot: () => structuredClone(job),
    };
    const done = (async () => {
      try {
        const result = await opts.run(handle);
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
