import "server-only";
import { DomainError, hasErrorCode } from "../../contracts/errors";
import { audit } from "../../db/database";
import { abandonRun, addEvent } from "../../wizard/engine";
import type { RestoreWizardStep } from "../contracts";
import { clientOf, isRunning, now, save, stepIndex, targetTouched, type RestoreHandler } from "../wizard-core";
import { dropStaged } from "./stage";

/** Going back a step, and leaving the target as it is: both drop a staged restore that changed nothing. */

export const back: RestoreHandler<"back"> = async (ctx, run, action) => {
  const step = run.step as RestoreWizardStep;
  let { state } = run;
  if (stepIndex(action.to) >= stepIndex(step)) throw new DomainError("wrong_step", `Cannot go back from "${step}" to "${action.to}".`);
  if (state.restoreId) state = await dropStaged(ctx, clientOf(ctx, state), state);
  audit(ctx.db, "restore.back", state.target?.url ?? null, "ok", { runId: run.id, from: step, to: action.to });
  return save(ctx, run, { step: action.to, state: addEvent(state, "back", "ok", `Back to "${action.to}".`) });
};

/** Closes the run without going further; refused while the agent is changing the target. */
export const abandon: RestoreHandler<"abandon"> = async (ctx, run) => {
  let { state } = run;
  const rec = state.record;
  // The refresh before this action could not ask the agent: its last record may be old (seen before
  // the confirmation, or "running" from a machine that is gone for good). Leaving stays possible, and
  // says what is not known instead of "nothing changed"; the restore's id stays in the run.
  if (state.restoreId && state.agentProblem) {
    const last = rec ? ` It was last seen ${rec.status} (${rec.phase}) at ${state.recordAt}: ${rec.targetState}` : "";
    const note =
      state.confirmedAt || targetTouched(rec)
        ? `The agent could not be asked (${state.agentProblem.message}), so whether restore ${state.restoreId} changed the target is not known.${last} Check on the server before restoring again (lifeboat-agent rollback puts the moved-aside database back).`
        : `The agent could not be asked (${state.agentProblem.message}); restore ${state.restoreId} was never confirmed, so nothing on the target changed; if the agent still keeps it staged, cancel it there (lifeboat-agent restore --cancel ${state.restoreId}) before restoring again.`;
    audit(ctx.db, "restore.abandon", state.target?.url ?? null, "left as is", { runId: run.id, step: run.step, restoreId: state.restoreId, targetState: note });
    ctx.targets.forget(state.target);
    return abandonRun(ctx.db, run, { ...state, outcome: "left-as-is", finishedAt: now() }, `Left as it is at the "${run.step}" step. ${note}`);
  }
  if (isRunning(rec) && rec?.status === "rolling-back") throw new DomainError("restore_running", "A rollback is running: wait for it to finish.");
  if (isRunning(rec) && targetTouched(rec)) throw new DomainError("restore_running", "The restore is changing the target right now: wait for it to finish.");
  let note: string;
  if (state.restoreId && !targetTouched(rec)) {
    try {
      state = await dropStaged(ctx, clientOf(ctx, state), state);
    } catch (err) {
      if (!hasErrorCode(err, "restore_running")) throw err;
      throw new DomainError("restore_running", "Staging is still running: wait for it to finish (it changes nothing on the target), then leave.");
    }
    note = "Nothing on the target changed.";
  } else note = rec ? rec.targetState : "Nothing on the target changed.";
  audit(ctx.db, "restore.abandon", state.target?.url ?? null, "left as is", { runId: run.id, step: run.step, restoreId: state.restoreId, targetState: note });
  ctx.targets.forget(state.target);
  return abandonRun(ctx.db, run, { ...state, outcome: "left-as-is", finishedAt: now() }, `Left as it is at the "${run.step}" step. ${note}`);
};
