import { z } from "zod";

/** One step of a long-running agent job, as shown in a progress list. */
export const JobStep = z.object({
  name: z.string(),
  /** Short label for the UI, e.g. "Snapshot", "Upload". */
  label: z.string(),
  state: z.enum(["pending", "running", "done", "failed", "skipped"]),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  /** What happened, in words (e.g. "integrity_check: ok", "uploaded 3.1 MB"). */
  detail: z.string().nullable(),
});
export type JobStep = z.infer<typeof JobStep>;

export const JobType = z.enum(["backup", "restore", "recovery", "drill", "rollback"]);
export type JobType = z.infer<typeof JobType>;

/** GET /jobs/:id — a backup, restore, recovery or drill running (or finished) on the agent. */
export const Job = z.object({
  id: z.string(),
  type: JobType,
  state: z.enum(["queued", "running", "succeeded", "failed", "cancelled"]),
  /** The step now running (or the last one). */
  step: z.string().nullable(),
  steps: z.array(JobStep),
  bytesDone: z.number().nonnegative(),
  bytesTotal: z.number().nonnegative().nullable(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  /** A sentence saying what failed and what to do; null unless state is "failed". */
  error: z.string().nullable(),
  /** Type-specific result (e.g. the backup's set id and manifest), validated by the caller's schema. */
  result: z.unknown().nullable(),
});
export type Job = z.infer<typeof Job>;

/** 202 answer to a request that starts a job. */
export const JobStarted = z.object({ jobId: z.string() });
export type JobStarted = z.infer<typeof JobStarted>;

/** 409 answer when a job of the same kind is running: names it. */
export const JobConflict = z.object({ code: z.literal("job_running"), message: z.string(), jobId: z.string() });
export type JobConflict = z.infer<typeof JobConflict>;
