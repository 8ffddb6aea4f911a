import "server-only";
import { DomainError } from "../../contracts/errors";
import { audit } from "../../db/database";
import { addEvent } from "../../wizard/engine";
import { restoreCandidates } from "../candidates";
import { clientOf, now, save, type RestoreHandler } from "../wizard-core";

/** Step 2, "Which backup": a backup set (or latest) as it is or at a point in time, or the result of a recovery attempt on the live database. */

/** Starts the recovery ladder on a copy of the live database; its report is followed by the refresh. */
export const startRecovery: RestoreHandler<"start-recovery"> = async (ctx, run) => {
  const { state } = run;
  if (state.recovery && !state.recovery.report && !state.recovery.error) throw new DomainError("recovery_running", "A recovery attempt is already running.");
  const started = await clientOf(ctx, state).startRecovery({ compareWith: "newest" });
  audit(ctx.db, "restore.recovery.start", state.target?.url ?? null, "started", { runId: run.id, recoveryId: started.recoveryId });
  const recovery = { recoveryId: started.recoveryId, jobId: started.jobId, startedAt: now(), report: null, error: null };
  return save(ctx, run, { state: addEvent({ ...state, recovery }, "recovery", "started", "The recovery ladder runs on a copy of the live database.") });
};

/** Chooses the candidate (and what to restore with it), noting whether it follows the proposal. */
export const choose: RestoreHandler<"choose"> = async (ctx, run, action) => {
  const { state } = run;
  const c = action.candidate;
  let what: string;
  if (c.kind === "backup") {
    const point = c.toRevision !== undefined || c.toTime !== undefined;
    if (c.toRevision !== undefined && c.toTime !== undefined) throw new DomainError("bad_request", "Choose one point: a revision or a time, not both.");
    if (!(point && c.setId === "latest") && !ctx.catalog.findSet(c.setId))
      throw new DomainError("no_such_set", `There is no backup set ${c.setId} in the catalog (any more). Refresh the list.`);
    what = point ? `${c.setId} at ${c.toRevision !== undefined ? `revision ${c.toRevision}` : c.toTime}${c.pointLabel ? ` (${c.pointLabel})` : ""}` : c.setId;
  } else {
    const rv = state.recovery;
    if (!rv?.report || rv.recoveryId !== c.id) throw new DomainError("no_recovery", "Run the recovery attempt first; its result is the candidate.");
    if (!rv.report.best) throw new DomainError("nothing_recovered", "The recovery attempt produced no database that passes integrity_check: choose a backup.");
    what = `recovery ${c.id}`;
  }
  const proposal = c.kind === "backup" ? ((await restoreCandidates(ctx, { limit: 1 })).proposal ?? null) : null;
  const include = { ...state.include, ...action.include };
  const followed = proposal?.setId === (c.kind === "backup" ? c.setId : null);
  audit(ctx.db, "restore.choose", what, "ok", { runId: run.id, proposed: proposal?.setId ?? null, followedProposal: followed, include });
  const note = proposal ? (followed ? " (the proposal)" : ` (the proposal was ${proposal.setId})`) : "";
  return save(ctx, run, { step: "preview", state: addEvent({ ...state, candidate: c, include, proposal }, "choose", "ok", `Chose ${what}${note}.`) });
};
