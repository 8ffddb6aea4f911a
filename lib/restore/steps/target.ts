import "server-only";
import { DomainError } from "../../contracts/errors";
import { audit } from "../../db/database";
import { addEvent } from "../../wizard/engine";
import type { AgentTarget, RestoreWizardState, RestoreWizardStep, TargetChoice } from "../contracts";
import { save, type RestoreContext, type RestoreHandler } from "../wizard-core";
import { readHealth, refreshRun } from "../wizard-refresh";

/** Step 1, "Where": choose the target's agent (this cluster's or a new machine's), ask its health, accept it. */

async function chooseTarget(ctx: RestoreContext, state: RestoreWizardState, choice: TargetChoice): Promise<RestoreWizardState> {
  let target: AgentTarget;
  if (choice.kind === "configured") {
    const c = ctx.targets.configured();
    if (!c)
      throw new DomainError(
        "no_agent",
        "No agent is configured (LIFEBOAT_AGENT_URL / LIFEBOAT_AGENT_TOKEN): enter the agent of the machine to restore instead.",
      );
    target = { kind: "configured", url: c.baseUrl, targetId: null };
  } else {
    target = ctx.targets.addNew(choice.url, choice.token, choice.fingerprint);
  }
  if (state.target && state.target.targetId !== target.targetId) ctx.targets.forget(state.target);
  return readHealth(ctx, { ...state, target, health: null, recovery: null });
}

/** Saves the target and its health; an agent that does not answer is recorded, not thrown. */
export const checkTarget: RestoreHandler<"check-target"> = async (ctx, run, action) => {
  const state = await chooseTarget(ctx, run.state, action.target);
  const ok = state.agentProblem === null;
  const url = state.target!.url;
  audit(ctx.db, "restore.target", url, ok ? "reachable" : "unreachable", {
    runId: run.id,
    kind: state.target!.kind,
    verdict: state.health?.verdict ?? null,
    problem: state.agentProblem?.code ?? null,
  });
  const message = ok ? `The agent at ${url} answers: database ${state.health!.verdict}.` : state.agentProblem!.message;
  return save(ctx, run, { state: addEvent(state, "target", ok ? "ok" : "unreachable", message) });
};

/** Asks the target again (any step), then catches up with its restore. */
export const recheck: RestoreHandler<"recheck"> = async (ctx, run) => {
  const step = run.step as RestoreWizardStep;
  let state = run.state;
  if (!state.target) throw new DomainError("no_target", "Choose where to restore first.");
  if (step === "after") state = { ...state, nodes: null };
  state = await readHealth(ctx, state);
  audit(ctx.db, "restore.recheck", state.target!.url, state.agentProblem ? "unreachable" : "ok", {
    runId: run.id,
    step,
    verdict: state.health?.verdict ?? null,
  });
  return refreshRun(ctx, save(ctx, run, { state }));
};

export const acceptTarget: RestoreHandler<"accept-target"> = (ctx, run) => {
  const { state } = run;
  if (!state.health)
    throw new DomainError("no_health", state.agentProblem ? `The agent cannot be asked: ${state.agentProblem.message}` : "Check the target's agent first.");
  const url = state.target?.url ?? null;
  audit(ctx.db, "restore.target.accept", url, "ok", { runId: run.id, verdict: state.health.verdict, disk: state.health.disk.enoughForStaging });
  return save(ctx, run, { step: "which", state: addEvent(state, "target", "accepted", `Restoring onto ${url}.`) });
};
