import "server-only";
import { DomainError } from "../../contracts/errors";
import { audit } from "../../db/database";
import { addEvent } from "../../wizard/engine";
import type { RestoreWizardState } from "../contracts";
import { clientOf, isRunning, now, save, type RestoreHandler } from "../wizard-core";
import { retryStaging } from "./stage";

/**
 * Steps 6 and 7, "Restore" and "After": the typed confirmation (the agent stops k3s, moves the
 * database aside, puts the backup in place, starts and checks), a retry, the rollback, and keeping it.
 */

export const confirm: RestoreHandler<"confirm"> = async (ctx, run, action) => {
  const { state } = run;
  const rec = state.record;
  // The page confirms what it showed: another tab may have gone back and staged another backup since.
  if (action.restoreId !== undefined && action.restoreId !== state.restoreId)
    throw new DomainError(
      "wrong_step",
      "The backup was staged again (another tab went back) since this page showed it: reload the page and review what the restore changes now.",
    );
  if (!rec?.canConfirm)
    throw new DomainError(
      "cannot_confirm",
      `This restore cannot be confirmed now (${rec ? `${rec.status}, ${rec.phase}` : "no record"}). ${rec?.targetState ?? ""}`.trim(),
    );
  // The agent compares the typed name with its own host name and refuses another (expectHost).
  const client = clientOf(ctx, state);
  let started;
  try {
    started = await client.confirmRestore(state.restoreId!, { expectHost: action.host });
  } catch (err) {
    audit(ctx.db, "restore.confirm", action.host, "refused", { runId: run.id, restoreId: state.restoreId, error: (err as Error).message });
    throw err;
  }
  audit(ctx.db, "restore.confirm", action.host, "ok", { runId: run.id, restoreId: state.restoreId, agent: state.target?.url ?? null });
  const next = addEvent(
    { ...state, jobId: started.jobId, confirmedHost: action.host, confirmedAt: now() },
    "confirm",
    "ok",
    `Confirmed on ${action.host}: stopping k3s and swapping the database.`,
  );
  return save(ctx, run, { step: "restore", state: next });
};

/** Stages again (stage step), or asks the agent to run the confirmed restore again (restore step). */
export const retry: RestoreHandler<"retry"> = async (ctx, run) => {
  if (run.step === "stage") return retryStaging(ctx, run);
  const { state } = run;
  const rec = state.record;
  const client = clientOf(ctx, state);
  if (!rec?.canConfirm || !state.confirmedHost)
    throw new DomainError(
      "cannot_retry",
      `The restore cannot be retried from here (${rec?.status ?? "no record"}). ${rec?.canRollback ? "Roll back, or leave it as it is." : ""}`.trim(),
    );
  const started = await client.confirmRestore(state.restoreId!, { expectHost: state.confirmedHost });
  audit(ctx.db, "restore.confirm", state.confirmedHost, "retried", { runId: run.id, restoreId: state.restoreId });
  return save(ctx, run, { state: addEvent({ ...state, jobId: started.jobId }, "restore", "retried", "Trying the restore again.") });
};

/** Puts the moved-aside database back. */
export const rollback: RestoreHandler<"rollback"> = async (ctx, run) => {
  const { state } = run;
  const rec = state.record;
  if (!rec?.canRollback)
    throw new DomainError("cannot_rollback", `There is nothing to roll back (${rec ? `${rec.status}${rec.done ? ", marked done" : ""}` : "no restore"}).`);
  const started = await clientOf(ctx, state).rollbackRestore(state.restoreId!);
  audit(ctx.db, "restore.rollback", state.target?.url ?? null, "started", { runId: run.id, restoreId: state.restoreId, asideDir: rec.asideDir });
  const next = addEvent({ ...state, jobId: started.jobId }, "rollback", "started", `Putting the previous database back from ${rec.asideDir}.`);
  return save(ctx, run, { step: "after", state: next });
};

/** Closes the run: the restore is kept (rollback no longer offered), or it ended with the rollback. */
export const done: RestoreHandler<"done"> = async (ctx, run) => {
  let { state } = run;
  const rec = state.record;
  if (isRunning(rec)) throw new DomainError("restore_running", "Wait until the agent has finished.");
  let outcome: RestoreWizardState["outcome"];
  if (rec?.status === "rolled-back") outcome = "rolled-back";
  else {
    if (!rec?.canMarkDone) throw new DomainError("cannot_finish", `This restore cannot be marked done (${rec?.status ?? "no record"}).`);
    state = { ...state, record: await clientOf(ctx, state).markRestoreDone(state.restoreId!), recordAt: now() };
    outcome = "restored";
  }
  audit(ctx.db, "restore.done", state.target?.url ?? null, outcome, { runId: run.id, restoreId: state.restoreId, asideDir: rec?.asideDir ?? null });
  ctx.targets.forget(state.target);
  const message =
    outcome === "restored" ? "Restore kept; rollback is no longer offered (the previous database stays on disk)." : "Finished after the rollback.";
  return save(ctx, run, { status: "done", state: addEvent({ ...state, outcome, finishedAt: now() }, "done", outcome, message) });
};
