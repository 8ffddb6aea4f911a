import "server-only";
import { isAgentError, type AgentClient } from "../../agent/agent-client";
import type { Job } from "../../contracts/agent-jobs";
import type { RestoreRecord, StartRestoreRequest } from "../../contracts/agent-restore";
import { DomainError, hasErrorCode } from "../../contracts/errors";
import { audit } from "../../db/database";
import { addEvent } from "../../wizard/engine";
import type { RestoreWizardState } from "../contracts";
import { clientOf, isRunning, save, targetTouched, type RestoreContext, type RestoreHandler, type RestoreRun } from "../wizard-core";

/** Steps 4 and 5, "Stage" and its review: the agent downloads, decrypts, unpacks and verifies on the target, changing nothing there. */

/**
 * Drops a staged restore that changed nothing (cancel), if there is one. Throws the agent's error
 * when it did not answer: a restore it keeps staged refuses every new one ("confirm or cancel it
 * first"), and the run would no longer know its id. An answer that refuses the cancel (cancelled
 * already, by hand) or fails is only logged, so a broken cancel never traps the run.
 */
export async function dropStaged(ctx: RestoreContext, client: AgentClient, state: RestoreWizardState): Promise<RestoreWizardState> {
  if (!state.restoreId) return state;
  const rec = state.record;
  if (isRunning(rec)) throw new DomainError("restore_running", "The agent is still working on this restore: wait until staging finishes.");
  if (targetTouched(rec)) throw new DomainError("target_changed", "The restore already changed the target's files: roll back, or leave it as it is.");
  if (rec?.canCancel) {
    try {
      await client.cancelRestore(state.restoreId);
    } catch (err) {
      if (!isAgentError(err) || err.agentStatus === 0) throw err;
      ctx.log.warn({ err: (err as Error).message, restoreId: state.restoreId }, "could not cancel a staged restore");
    }
  }
  return { ...state, restoreId: null, jobId: null, record: null, recordAt: null, confirmedHost: null, confirmedAt: null };
}

/**
 * The restore the agent staged (or is staging) for exactly this request after the run began, when
 * the run does not know it: the answer to its POST /restores was lost (a timeout, a cut connection).
 * Only one wizard run is active at a time, so such a restore is the run's own.
 */
async function lostStaging(client: AgentClient, run: RestoreRun, req: StartRestoreRequest): Promise<RestoreRecord | null> {
  // Flat objects (a source, the include flags), compared whatever their keys' order.
  const same = (a: object, b: object) => JSON.stringify(a, Object.keys(a).sort()) === JSON.stringify(b, Object.keys(b).sort());
  const { restores } = await client.listRestores().catch(() => ({ restores: [] as RestoreRecord[] }));
  return (
    restores.find(
      (r) =>
        r.kind === "restore" &&
        (r.status === "running" || r.status === "awaiting-confirmation") &&
        !targetTouched(r) &&
        Date.parse(r.createdAt) >= Date.parse(run.createdAt) &&
        same(r.source, req.source) &&
        same(r.include, req.include) &&
        (r.point?.toRevision ?? null) === (req.toRevision ?? null) &&
        (r.point?.toTime ?? null) === (req.toTime ?? null),
    ) ?? null
  );
}

/**
 * POST /restores for the chosen candidate, waiting (briefly) for a restore drill that holds the agent.
 * A restore the agent already staged for this very request, whose answer never reached the run, is
 * adopted (`adopted: true`) instead of being refused. Throws `agent_busy` or the agent's error.
 */
async function startStaging(
  ctx: RestoreContext,
  client: AgentClient,
  run: RestoreRun,
  state: RestoreWizardState,
): Promise<{ restoreId: string; jobId: string | null; adopted: boolean }> {
  const c = state.candidate!;
  const source = c.kind === "backup" ? { kind: "backup" as const, setId: c.setId } : { kind: "recovery" as const, id: c.id };
  // A point in time goes to the agent as it is: it plans the base and the log (agent/continuous/point-in-time.ts).
  const point = c.kind === "backup" ? { toRevision: c.toRevision, toTime: c.toTime } : {};
  const req = { source, dryRun: false, confirm: false, compareWithLive: true, include: state.include, ...point };
  const deadline = Date.now() + (ctx.drillWaitMs ?? 90_000);
  for (;;) {
    try {
      return { ...(await client.startRestore(req)), adopted: false };
    } catch (err) {
      const jobId = hasErrorCode(err, "job_running") ? String(err.details?.jobId ?? "") : "";
      let job: Job | null = null;
      if (jobId) job = await client.job(jobId).catch(() => null);
      // Refused because a restore is staging or staged: it may be this run's own, its answer lost.
      if (hasErrorCode(err, "restore_state") || job?.type === "restore") {
        const lost = await lostStaging(client, run, req);
        if (lost) return { restoreId: lost.id, jobId: lost.jobId, adopted: true };
      }
      if (job && job.type === "drill" && Date.now() < deadline) {
        // A restore drill finishes in seconds; drills are paused while the wizard runs, so no new one starts.
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      if (jobId && job)
        throw new DomainError("agent_busy", `The agent is busy with a ${job.type} (${job.step ?? "starting"}). Try again when it has finished.`);
      throw err;
    }
  }
}

export const stage: RestoreHandler<"stage"> = async (ctx, run, action) => {
  if (!run.state.candidate) throw new DomainError("no_candidate", "Choose a backup first.");
  const state = { ...run.state, include: { ...run.state.include, ...action.include } };
  const { restoreId, jobId, adopted } = await startStaging(ctx, clientOf(ctx, state), run, state);
  const outcome = adopted ? "adopted" : "started";
  audit(ctx.db, "restore.stage", state.target?.url ?? null, outcome, { runId: run.id, restoreId, source: state.candidate, include: state.include });
  const next = addEvent(
    { ...state, restoreId, jobId, record: null, recordAt: null },
    "stage",
    outcome,
    adopted
      ? `The agent had already staged this backup (restore ${restoreId}) although its answer did not reach the dashboard: following it.`
      : "Downloading, decrypting, unpacking and verifying on the target.",
  );
  return save(ctx, run, { step: "stage", state: next });
};

/** The user reviewed what the verified staging changes: on to the confirmation. */
export const verified: RestoreHandler<"verified"> = (ctx, run) => {
  const { state } = run;
  if (state.record?.status !== "awaiting-confirmation") throw new DomainError("not_verified", "The backup is not staged and verified yet.");
  audit(ctx.db, "restore.review", state.target?.url ?? null, "ok", { runId: run.id, restoreId: state.restoreId });
  return save(ctx, run, { step: "confirm", state: addEvent(state, "review", "ok", "Reviewed what the restore changes.") });
};

/** "Retry" at the stage step: drops the failed staging and stages again. */
export async function retryStaging(ctx: RestoreContext, run: RestoreRun): Promise<RestoreRun> {
  const rec = run.state.record;
  const client = clientOf(ctx, run.state);
  if (isRunning(rec)) throw new DomainError("restore_running", "Staging is still running.");
  if (rec?.status === "awaiting-confirmation")
    throw new DomainError("already_verified", "The backup is already staged and verified: continue to the confirmation.");
  const state = await dropStaged(ctx, client, run.state);
  const { restoreId, jobId } = await startStaging(ctx, client, run, state);
  audit(ctx.db, "restore.stage", state.target?.url ?? null, "retried", { runId: run.id, restoreId });
  return save(ctx, run, { state: addEvent({ ...state, restoreId, jobId }, "stage", "retried", "Staging again.") });
}
