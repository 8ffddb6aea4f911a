import "server-only";
import { isAgentError, type AgentClient } from "../agent/agent-client";
import type { RestoreRecord } from "../contracts/agent-restore";
import { hasErrorCode, isDomainError } from "../contracts/errors";
import { audit } from "../db/database";
import { addEvent } from "../wizard/engine";
import type { NodesCheck, RestoreWizardState, RestoreWizardStep } from "./contracts";
import { agentProblemOf, isRunning, now, save, stepIndex, targetTouched, type RestoreContext, type RestoreRun } from "./wizard-core";

/**
 * Bringing a restore run up to date: the target's health, the agent's record of the restore and of
 * a recovery attempt, and the nodes coming back afterwards. Polling asks every second, so a run is
 * written only when something changed.
 */

/** Asks the target's agent for its health; an agent that cannot be asked becomes `agentProblem`. */
export async function readHealth(ctx: RestoreContext, state: RestoreWizardState): Promise<RestoreWizardState> {
  const target = state.target!;
  try {
    const health = await ctx.targets.client(target).health();
    const hostHint = health.host || null;
    const hostHintSource = hostHint ? "the agent" : null;
    return { ...state, health, healthAt: now(), hostHint, hostHintSource, agentProblem: null };
  } catch (err) {
    // An agent that cannot be asked is a state the page shows, not an error.
    if (!isDomainError(err)) throw err;
    return { ...state, health: null, healthAt: now(), agentProblem: agentProblemOf(err, target.url) };
  }
}

/** Applies what the agent now says about the restore to the run: saves the record, moves on and audits when its status changed. */
function applyRecord(ctx: RestoreContext, run: RestoreRun, rec: RestoreRecord): RestoreRun {
  // Polling asks every second: write the run only when the agent has something new to say.
  if (run.state.agentProblem === null && run.state.record?.updatedAt === rec.updatedAt && run.state.record.status === rec.status) return run;
  let state: RestoreWizardState = { ...run.state, record: rec, recordAt: now(), agentProblem: null };
  let step = run.step as RestoreWizardStep;
  const before = run.state.record;
  const changed = !before || before.status !== rec.status || before.phase !== rec.phase;
  const target = state.target?.url ?? null;
  const detail = { runId: run.id, restoreId: rec.id };
  // The agent took a confirmation whose answer this run never saw (a timeout, a cut connection, an
  // answer it could not read): the target is changing, so follow it at the restore step.
  if (step === "confirm" && rec.status !== "awaiting-confirmation" && (isRunning(rec) || targetTouched(rec))) {
    state = addEvent(state, "confirm", "taken", "The agent took the confirmation although its answer did not reach the dashboard: following the restore.");
    audit(ctx.db, "restore.confirm", target, "taken", detail);
    step = "restore";
  }
  if (changed && (!before || before.status !== rec.status)) {
    if (step === "stage" && rec.status === "awaiting-confirmation") {
      state = addEvent(state, "stage", "verified", `Staged and verified on the target: ${rec.steps.find((s) => s.name === "verify")?.detail ?? "ok"}.`);
      audit(ctx.db, "restore.verified", target, "ok", { ...detail, diff: rec.diff?.summary ?? rec.diffError });
    } else if (rec.status === "failed") {
      state = addEvent(state, step === "stage" ? "stage" : "restore", "failed", `${rec.error ?? "failed"} ${rec.targetState}`);
      audit(ctx.db, step === "stage" ? "restore.stage" : "restore.restore", target, "failed", { ...detail, error: rec.error, targetState: rec.targetState });
    } else if (rec.status === "succeeded" && step === "restore") {
      state = addEvent(state, "restore", "succeeded", rec.targetState);
      audit(ctx.db, "restore.restore", target, "succeeded", { ...detail, asideDir: rec.asideDir, after: rec.after });
      step = "after";
      state = { ...state, nodes: null };
    } else if (rec.status === "rolled-back") {
      state = addEvent(state, "rollback", "ok", rec.targetState);
      audit(ctx.db, "restore.rollback", target, "succeeded", { ...detail, after: rec.after });
      if (step === "restore") step = "after";
    }
  }
  if (step === "restore" && rec.status === "rolled-back") step = "after";
  return save(ctx, run, { step, state });
}

const NODES_RECHECK_MS = 3000;

/** "45 s", "5 minutes": how long the After step waits, in words. */
function waitedFor(ms: number): string {
  return ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} minutes`;
}

/** Whether the nodes came back Ready after the restore (waits up to `nodesTimeoutMs`). */
async function checkNodes(ctx: RestoreContext, state: RestoreWizardState): Promise<NodesCheck> {
  const started = state.nodes?.startedAt ?? now();
  const deadline = state.nodes?.deadline ?? new Date(Date.parse(started) + (ctx.nodesTimeoutMs ?? 5 * 60_000)).toISOString();
  const prev = state.nodes;
  if (!ctx.nodes.configured())
    return {
      state: "not-configured",
      message: "No Kubernetes API is configured (KUBECONFIG), so the nodes' return is not checked here: check it with kubectl get nodes once k3s is up.",
      startedAt: started,
      deadline,
      nodes: [],
      checkedAt: now(),
    };
  if (prev && (prev.state === "ready" || prev.state === "timed-out")) return prev;
  if (prev?.checkedAt && Date.now() - Date.parse(prev.checkedAt) < NODES_RECHECK_MS) return prev;
  const late = Date.now() > Date.parse(deadline);
  try {
    const nodes = await ctx.nodes.list();
    const notReady = nodes.filter((n) => n.ready !== "Ready");
    if (nodes.length && !notReady.length)
      return {
        state: "ready",
        message: `All ${nodes.length} node${nodes.length === 1 ? " is" : "s are"} Ready.`,
        startedAt: started,
        deadline,
        nodes,
        checkedAt: now(),
      };
    const msg = nodes.length ? `Waiting for ${notReady.map((n) => n.name).join(", ")} to be Ready.` : "The API answers but lists no nodes yet.";
    return {
      state: late ? "timed-out" : "waiting",
      message: late
        ? nodes.length
          ? `Not every node came back Ready within ${waitedFor(ctx.nodesTimeoutMs ?? 300_000)}: ${notReady.map((n) => `${n.name} is ${n.ready}`).join(", ")}. Look at k3s's log on the server and k3s-agent's on the workers (journalctl -u k3s -u k3s-agent); "Check again" waits once more.`
          : `${msg} Gave up waiting after ${waitedFor(ctx.nodesTimeoutMs ?? 300_000)}.`
        : msg,
      startedAt: started,
      deadline,
      nodes,
      checkedAt: now(),
    };
  } catch (err) {
    const msg = `The Kubernetes API does not answer yet (${(err as Error).message.replace(/\.$/, "")}).`;
    return {
      state: late ? "timed-out" : "waiting",
      message: late ? `${msg} Gave up waiting after ${waitedFor(ctx.nodesTimeoutMs ?? 300_000)}.` : msg,
      startedAt: started,
      deadline,
      nodes: prev?.nodes ?? [],
      checkedAt: now(),
    };
  }
}

/**
 * Brings a run up to date with the agent (restore record, recovery report) and the cluster (nodes
 * after the restore). An unreachable agent is recorded as `agentProblem`, never thrown: the page
 * keeps showing the last record it saw.
 */
export async function refreshRun(ctx: RestoreContext, runIn: RestoreRun): Promise<RestoreRun> {
  let run = runIn;
  if (run.status !== "active" || !run.state.target) return run;
  const step = run.step as RestoreWizardStep;
  let client: AgentClient;
  try {
    client = ctx.targets.client(run.state.target);
  } catch (err) {
    if (hasErrorCode(err, "target_unavailable")) return save(ctx, run, { state: { ...run.state, agentProblem: agentProblemOf(err, run.state.target.url) } });
    throw err;
  }
  try {
    const rv = run.state.recovery;
    if (rv && !rv.report && !rv.error && step === "which") {
      const job = await client.job(rv.jobId).catch((e: unknown) => (hasErrorCode(e, "not_found") ? null : Promise.reject(e)));
      if (!job || job.state === "succeeded") {
        const report = await client.recovery(rv.recoveryId).catch((e: unknown) => (hasErrorCode(e, "not_found") ? null : Promise.reject(e)));
        if (report) {
          run = save(ctx, run, {
            state: addEvent({ ...run.state, recovery: { ...rv, report } }, "recovery", report.best ? "ok" : "nothing", report.recommendation),
          });
          audit(ctx.db, "restore.recovery", run.state.target!.url, report.best ? "ok" : "nothing recovered", {
            runId: run.id,
            recoveryId: rv.recoveryId,
            best: report.best?.rung ?? null,
            rows: report.best?.rows ?? null,
          });
        } else if (!job)
          run = save(ctx, run, { state: { ...run.state, recovery: { ...rv, error: "The agent restarted before the recovery finished: start it again." } } });
      } else if (job.state === "failed" || job.state === "cancelled") {
        run = save(ctx, run, {
          state: addEvent({ ...run.state, recovery: { ...rv, error: job.error ?? "The recovery failed." } }, "recovery", "failed", job.error ?? "failed"),
        });
        audit(ctx.db, "restore.recovery", run.state.target!.url, "failed", { runId: run.id, recoveryId: rv.recoveryId, error: job.error });
      }
    }
    if (run.state.restoreId && stepIndex(step) >= stepIndex("stage")) {
      const rec = await client.restore(run.state.restoreId);
      run = applyRecord(ctx, run, rec);
    }
  } catch (err) {
    if (!isAgentError(err)) throw err;
    run = save(ctx, run, { state: { ...run.state, agentProblem: agentProblemOf(err, client.baseUrl) } });
  }
  if (run.step === "after" && run.state.record?.status === "succeeded") {
    const nodes = await checkNodes(ctx, run.state);
    if (JSON.stringify(nodes) !== JSON.stringify(run.state.nodes)) {
      if (nodes.state !== run.state.nodes?.state && (nodes.state === "ready" || nodes.state === "timed-out"))
        audit(ctx.db, "restore.nodes", run.state.target!.url, nodes.state, { runId: run.id, message: nodes.message });
      run = save(ctx, run, { state: { ...run.state, nodes } });
    }
  }
  return run;
}
