import { existsSync, promises as fsp } from "node:fs";
import path from "node:path";
import type { Job } from "../../lib/contracts/agent-jobs";
import type { RestoreRecord, RestoreStepName } from "../../lib/contracts/agent-restore";
import { AgentConfigError, type AgentConfig } from "../config";
import { describeFailure, runCommand } from "../host/run-command";
import { JobStalledError, type JobHandle } from "../jobs/job-registry";
import type { AgentDeps } from "../module";
import { pruneDrills } from "./drills";
import { RestoreFailure, RestoreNotFoundError } from "./errors";
import { type Phase, type RestoreJournal, loadJournal, pastSwapBegin, saveJournal, toRecord } from "./journal";
import { StageError } from "./stage";
import { stepLabel } from "./steps";

/**
 * The bookkeeping every restore flow shares: a restore, drill or rollback runs as a job of the
 * "datastore" group, and each of its steps is recorded both in the job (for progress polls) and in
 * the journal (saved before and after every change, so a restarted agent knows where it stood).
 */

/** What a flow (stage-and-verify, swap-and-start, rollback) works with. */
export interface Ctx {
  deps: AgentDeps;
  cfg: AgentConfig;
  j: RestoreJournal;
  job: JobHandle;
  /** The steps this job shows (a confirmation's job has no stage/verify). */
  jobSteps: Set<string>;
  log: AgentDeps["log"];
}

/** What the restore endpoints answer with once a job started. */
export interface StartedRestoreJob {
  restoreId: string;
  jobId: string;
  done: Promise<Job>;
}

/** Bytes in MB for a detail line. */
export const mb = (n: number) => `${(n / 1e6).toFixed(n < 10e6 ? 2 : 1)} MB`;

/** Whether the restore's staged database is still on disk. Never throws. */
export function stagingExists(j: RestoreJournal): boolean {
  return existsSync(path.join(j.stagingDir, "db"));
}

/** The API view of a journal. Never throws. */
export function recordOf(j: RestoreJournal): RestoreRecord {
  return toRecord(j, { stagingExists: stagingExists(j) });
}

/** The journal of restore `id`. Throws RestoreNotFoundError. */
export function mustLoad(cfg: AgentConfig, id: string): RestoreJournal {
  const j = loadJournal(cfg, id);
  if (!j) throw new RestoreNotFoundError(id);
  return j;
}

/** Removes the restore's staging directory. Rejects on I/O errors other than its absence. */
export async function removeStagingDir(j: RestoreJournal): Promise<void> {
  await fsp.rm(j.stagingDir, { recursive: true, force: true });
}

/**
 * A stalled job (its signal aborted) goes no further while nothing on the server has changed: it
 * must never move on to stopping k3s after it was reported failed. Past the start of the swap the
 * flow finishes what it began (each of those steps has its own time limit). Throws the stall.
 */
function stopIfStalled(ctx: Ctx): void {
  if (ctx.job.signal.aborted && !pastSwapBegin(ctx.j.phase)) throw ctx.job.signal.reason;
}

/** Records a phase change (with its time, in the journal's history) and saves the journal. Throws when the journal cannot be saved, or the job stalled before the swap. */
export function setPhase(ctx: Ctx, phase: Phase, note?: string): void {
  stopIfStalled(ctx);
  ctx.j.phase = phase;
  ctx.j.history.push({ at: new Date().toISOString(), phase, note });
  saveJournal(ctx.cfg, ctx.j);
}

/** Marks step `name` running (and the one before done) in the journal and the job. Throws when the journal cannot be saved, or the job stalled before the swap. */
export function beginStep(ctx: Ctx, name: RestoreStepName, detail?: string): void {
  stopIfStalled(ctx);
  const now = new Date().toISOString();
  for (const s of ctx.j.steps) if (s.state === "running") Object.assign(s, { state: "done", finishedAt: now });
  const s = ctx.j.steps.find((x) => x.name === name);
  if (s) Object.assign(s, { state: "running", startedAt: now, finishedAt: null, detail: detail ?? s.detail });
  if (ctx.jobSteps.has(name)) ctx.job.step(name, detail);
  saveJournal(ctx.cfg, ctx.j);
}

/** Sets the detail line of step `name` in the journal and the job. Throws when the journal cannot be saved. */
export function stepDetail(ctx: Ctx, name: RestoreStepName, detail: string): void {
  const s = ctx.j.steps.find((x) => x.name === name);
  if (s) s.detail = detail;
  if (ctx.jobSteps.has(name)) ctx.job.detail(name, detail);
  saveJournal(ctx.cfg, ctx.j);
}

/** Ends the running steps in the journal (the caller saves it). Never throws. */
export function finishSteps(ctx: Pick<Ctx, "j">, state: "done" | "failed"): void {
  const now = new Date().toISOString();
  for (const s of ctx.j.steps) if (s.state === "running") Object.assign(s, { state, finishedAt: now });
}

/** The journal ends as it should: succeeded, its staging removed. Rejects when the journal cannot be saved. */
export async function succeed(ctx: Ctx): Promise<void> {
  ctx.j.status = "succeeded";
  finishSteps(ctx, "done");
  await removeStagingDir(ctx.j);
  saveJournal(ctx.cfg, ctx.j);
}

/** Starts k3s after a restore that stopped it failed before the swap. Resolves with the sentence that says so. Never throws. */
async function startAgain(cfg: AgentConfig, j: RestoreJournal): Promise<string> {
  const res = await runCommand(cfg.k3sStartCmd);
  if (res.code === 0) {
    j.k3sStopped = false;
    return "k3s had been stopped for the restore; it was started again with the database it had.";
  }
  return `k3s had been stopped for the restore, and the start command \`${cfg.k3sStartCmd}\` failed (${describeFailure(res)}): start k3s by hand.`;
}

/** A failure's sentence: as it is when it was written for the user, else with the step it happened in. */
function describeError(err: unknown, j: RestoreJournal): string {
  if (err instanceof RestoreFailure || err instanceof StageError || err instanceof AgentConfigError) return (err as Error).message;
  if (err instanceof JobStalledError) return pastSwapBegin(j.phase) ? err.message : `${err.message} Nothing on the server changed.`;
  const step = j.steps.find((s) => s.state === "running")?.label ?? j.phase;
  const msg = (err as Error)?.message ?? String(err);
  return `The restore failed at "${step}": ${msg}${/[.!?]$/.test(msg) ? "" : "."}`;
}

/**
 * Runs `body` as a job of the "datastore" group and records its outcome in the journal; `release`
 * (the datastore lock's) is called when it ends, or at once when the job cannot start. Throws
 * JobRunningError when another datastore job runs.
 */
export function startJob(
  deps: AgentDeps,
  j: RestoreJournal,
  type: "restore" | "drill" | "rollback",
  stepNames: readonly RestoreStepName[],
  body: (ctx: Ctx) => Promise<void>,
  release: () => void,
  labels: Partial<Record<RestoreStepName, string>> = {},
): StartedRestoreJob {
  const cfg = deps.config;
  const log = deps.log.child({ component: "restore", restoreId: j.id });
  let started;
  try {
    started = deps.jobs.start<RestoreRecord>({
      type,
      group: "datastore",
      steps: stepNames.map((name) => ({ name, label: stepLabel(name, labels) })),
      run: async (job) => {
        const ctx: Ctx = { deps, cfg, j, job, jobSteps: new Set(stepNames), log };
        j.jobId = job.id;
        saveJournal(cfg, j);
        let flow: Promise<void> | undefined;
        try {
          // A stall ends the job at once while nothing on the server changed; past the start of the
          // swap the flow runs to its end (or its own time limits) rather than stop halfway.
          flow = body(ctx);
          flow.catch(() => {});
          const stalled = new Promise<never>((_, reject) =>
            job.signal.addEventListener("abort", () => (pastSwapBegin(j.phase) ? undefined : reject(job.signal.reason)), { once: true }),
          );
          await Promise.race([flow, stalled]);
          return recordOf(j);
        } catch (err) {
          let message = describeError(err, j);
          log.error({ err: (err as Error)?.message, phase: j.phase }, "restore step failed");
          finishSteps(ctx, "failed");
          const rollingBack = j.status === "rolling-back";
          const record = () => (j.error = rollingBack ? `The rollback did not finish: ${message}` : message);
          if (!rollingBack) j.status = "failed";
          record();
          // A stalled flow's streams were stopped by its signal; give them a moment to close their
          // files, so that nothing is written into the staging directory after it is removed.
          if (err instanceof JobStalledError) await Promise.race([flow?.catch(() => {}), new Promise((r) => setTimeout(r, 10_000).unref())]);
          // Stopped for the restore, but the swap never began: the old database is in place, so k3s
          // must run again, whatever ended the flow.
          if (!pastSwapBegin(j.phase) && j.k3sStopped) {
            message = `${message} ${await startAgain(cfg, j)}`;
            record();
          }
          // A failure before the swap changed nothing: drop the staging unless it verified (kept for a retry).
          if (!pastSwapBegin(j.phase) && (!j.verification || j.phase === "staging" || j.phase === "verifying" || j.kind === "drill")) await removeStagingDir(j);
          saveJournal(cfg, j);
          throw new RestoreFailure(message);
        } finally {
          if (j.kind === "drill") await pruneDrills(cfg).catch(() => {});
        }
      },
      describeError: (err) => (err as Error).message,
      onStall: "signal",
      onFinish: (job) => {
        release();
        log.info({ jobId: job.id, state: job.state, status: j.status }, `${type} finished`);
      },
    });
  } catch (err) {
    release();
    throw err;
  }
  return { restoreId: j.id, jobId: started.id, done: started.done };
}
