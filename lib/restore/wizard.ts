import type { Logger } from "pino";
import { isAgentError, type AgentClient } from "../agent/agent-client";
import type { Job } from "../contracts/agent-jobs";
import type { RestoreRecord } from "../contracts/agent-restore";
import type { CatalogSet, ManifestState } from "../contracts/catalog";
import { audit, type Db } from "../db/database";
import { wizardRuns, type WizardRun } from "../db/wizard-runs";
import { ApiError } from "../http/api";
import { describeAgentProblem, isTargetUnavailable, type AgentTargets } from "./agent-targets";
import {
  RestoreWizardAction,
  RestoreWizardState,
  type AgentTarget,
  type BackupPreview,
  type DrillRecord,
  type NodesCheck,
  type RestoreCandidates,
  type RestoreWizardStep,
  type RestoreWizardView,
  type SetStats,
  type TargetChoice,
} from "./contracts";
import { proposeBackup } from "./proposal";
import { setStatsFrom } from "./set-stats";

/**
 * The master-restore wizard's server side: a saved state machine in `wizard_runs` (kind
 * "master-restore"). Each action is allowed only on its step, is written to the audit log, and
 * answers the new view. Everything the agent does is followed through the restore id kept in the
 * run, so a reload, a closed tab or a dashboard restart comes back to the same step and the same
 * restore; the agent's own journal is the truth about the target's files.
 *
 * Steps: where → which → preview → stage → confirm → restore → after.
 */

export const MASTER_RESTORE_KIND = "master-restore";

type Run = WizardRun<RestoreWizardState>;

/** What the wizard reads from the catalog (the dashboard's CatalogService in production). */
export interface CatalogPort {
  /** Every set, newest first, with its verification. */
  sets(): CatalogSet[];
  findSet(id: string): CatalogSet | null;
  /** Never throws: a missing or unreadable manifest is a state. */
  manifest(set: CatalogSet): Promise<ManifestState>;
}

/** Nodes coming back after the restore, from the Kubernetes API (H4's node service in production). */
export interface NodesPort {
  configured(): boolean;
  /** Rejects with an Error whose message is a sentence. */
  list(): Promise<{ name: string; ready: string; controlPlane: boolean }[]>;
}

export interface RestoreContext {
  db: Db;
  targets: AgentTargets;
  catalog: CatalogPort;
  drill: (setId: string) => DrillRecord | null;
  nodes: NodesPort;
  log: Logger;
  /** How long the After step waits for nodes to be Ready (default 5 min). */
  nodesTimeoutMs?: number;
  /** How long staging waits for a running restore drill to finish before giving up (default 90 s). */
  drillWaitMs?: number;
}

const now = () => new Date().toISOString();
const STEP_ORDER: RestoreWizardStep[] = ["where", "which", "preview", "stage", "confirm", "restore", "after"];
const stepIndex = (s: RestoreWizardStep) => STEP_ORDER.indexOf(s);

const emptyState = (): RestoreWizardState => ({
  target: null,
  health: null,
  healthAt: null,
  hostHint: null,
  hostHintSource: null,
  agentProblem: null,
  recovery: null,
  candidate: null,
  include: { token: true, cred: false, tls: false },
  proposal: null,
  restoreId: null,
  jobId: null,
  record: null,
  recordAt: null,
  confirmedHost: null,
  confirmedAt: null,
  nodes: null,
  outcome: null,
  finishedAt: null,
  events: [],
});

function event(state: RestoreWizardState, action: string, outcome: string, message: string): RestoreWizardState {
  return { ...state, events: [...state.events, { at: now(), action, outcome, message }] };
}

// One action or refresh of a run at a time: a double click or the background watcher must not
// interleave with an action (both read, call the agent, and write the run).
const locks = new Map<string, Promise<unknown>>();
async function withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(id) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  const tail = next.catch(() => {});
  locks.set(id, tail);
  try {
    return await next;
  } finally {
    if (locks.get(id) === tail) locks.delete(id);
  }
}

function load(ctx: RestoreContext, id: string): Run {
  const run = wizardRuns.get<RestoreWizardState>(ctx.db, id);
  if (!run || run.kind !== MASTER_RESTORE_KIND) throw new ApiError(404, "not_found", "This restore does not exist (any more). Open the restore wizard again to start a new one.");
  return { ...run, state: RestoreWizardState.parse(run.state) };
}

function save(ctx: RestoreContext, run: Run, patch: { step?: RestoreWizardStep; status?: Run["status"]; state: RestoreWizardState }): Run {
  return wizardRuns.update(ctx.db, run.id, patch);
}

/** The active run, if any. */
export function activeRun(ctx: Pick<RestoreContext, "db">): Run | undefined {
  const run = wizardRuns.active<RestoreWizardState>(ctx.db, MASTER_RESTORE_KIND);
  return run ? { ...run, state: RestoreWizardState.parse(run.state) } : undefined;
}

export function getRun(ctx: RestoreContext, id: string): Run {
  return load(ctx, id);
}

/** Why restore drills should wait (an active run about to use or using the target), or null. */
export function drillPauseReason(ctx: Pick<RestoreContext, "db">): string | null {
  const run = activeRun(ctx);
  if (!run || stepIndex(run.step as RestoreWizardStep) < stepIndex("preview")) return null;
  return "A restore is in progress in the restore wizard: restore drills wait until it is finished.";
}

/** Starts a run at step 1. Throws ApiError 409 when one is active. */
export function startRun(ctx: RestoreContext): Run {
  const active = activeRun(ctx);
  if (active) throw new ApiError(409, "restore_active", "A restore is already in progress in the wizard. Continue it, or abandon it first.", { runId: active.id });
  const run = wizardRuns.create<RestoreWizardState>(ctx.db, MASTER_RESTORE_KIND, "where", emptyState());
  audit(ctx.db, "restore.start", null, "ok", { runId: run.id });
  return run;
}

function clientOf(ctx: RestoreContext, state: RestoreWizardState): AgentClient {
  if (!state.target) throw new ApiError(409, "no_target", "Choose where to restore first (step 1).");
  try {
    return ctx.targets.client(state.target);
  } catch (e) {
    if (isTargetUnavailable(e)) throw new ApiError(409, "target_unavailable", e.message);
    throw e;
  }
}

/** An agent failure during an action, as the sentence the page shows (the agent's own 4xx sentences pass through). */
function agentApiError(err: unknown, url: string): never {
  if (err instanceof ApiError) throw err;
  if (isAgentError(err)) {
    if (err.status === 0 || err.status === 401 || err.status >= 500) {
      const p = describeAgentProblem(err, url);
      throw new ApiError(502, p.code, `${p.message} Check ${p.hint}`);
    }
    throw new ApiError(err.status, err.code, err.message);
  }
  throw err;
}

async function readHealth(ctx: RestoreContext, state: RestoreWizardState): Promise<RestoreWizardState> {
  const target = state.target!;
  try {
    const health = await ctx.targets.client(target).health();
    const hostHint = health.host || null;
    const hostHintSource = hostHint ? "the agent" : null;
    return { ...state, health, healthAt: now(), hostHint, hostHintSource, agentProblem: null };
  } catch (err) {
    if (!(isAgentError(err)) && !(isTargetUnavailable(err))) throw err;
    return { ...state, health: null, healthAt: now(), agentProblem: describeAgentProblem(err, target.url) };
  }
}

/** Whether anything on the target may have changed (the swap began). */
function targetTouched(rec: RestoreRecord | null): boolean {
  if (!rec) return false;
  return rec.asideDir !== null || rec.status === "succeeded" || rec.status === "rolling-back" || rec.status === "rolled-back" || /^swap|^owner|^start|^check|^rollback/.test(rec.phase);
}

const RUNNING = (rec: RestoreRecord | null) => rec?.status === "running" || rec?.status === "rolling-back";

/** Drops a staged restore that changed nothing (cancel), if there is one. Never throws for an agent that is away. */
async function dropStaged(ctx: RestoreContext, client: AgentClient, state: RestoreWizardState): Promise<RestoreWizardState> {
  if (!state.restoreId) return state;
  const rec = state.record;
  if (RUNNING(rec)) throw new ApiError(409, "restore_running", "The agent is still working on this restore: wait until staging finishes.");
  if (targetTouched(rec)) throw new ApiError(409, "target_changed", "The restore already changed the target's files: roll back, or leave it as it is.");
  if (rec?.canCancel) {
    try {
      await client.cancelRestore(state.restoreId);
    } catch (err) {
      ctx.log.warn({ err: (err as Error).message, restoreId: state.restoreId }, "could not cancel a staged restore");
    }
  }
  return { ...state, restoreId: null, jobId: null, record: null, recordAt: null, confirmedHost: null, confirmedAt: null };
}

/** POST /restores for the chosen candidate, waiting (briefly) for a restore drill that holds the agent. */
async function startStaging(ctx: RestoreContext, client: AgentClient, state: RestoreWizardState): Promise<{ restoreId: string; jobId: string }> {
  const c = state.candidate!;
  const req = { source: c.kind === "backup" ? { kind: "backup" as const, setId: c.setId } : { kind: "recovery" as const, id: c.id }, dryRun: false, confirm: false, compareWithLive: true, include: state.include };
  const deadline = Date.now() + (ctx.drillWaitMs ?? 90_000);
  for (;;) {
    try {
      return await client.startRestore(req);
    } catch (err) {
      const jobId = isAgentError(err) && err.code === "job_running" ? String(err.details?.jobId ?? "") : "";
      let job: Job | null = null;
      if (jobId) job = await client.job(jobId).catch(() => null);
      if (job && job.type === "drill" && Date.now() < deadline) {
        // A restore drill finishes in seconds; drills are paused while the wizard runs, so no new one starts.
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      if (jobId && job) throw new ApiError(409, "agent_busy", `The agent is busy with a ${job.type} (${job.step ?? "starting"}). Try again when it has finished.`);
      agentApiError(err, client.baseUrl);
    }
  }
}

/** Applies what the agent now says about the restore to the run: saves the record, moves on and audits when its status changed. */
function applyRecord(ctx: RestoreContext, run: Run, rec: RestoreRecord): Run {
  // Polling asks every second: write the run only when the agent has something new to say.
  if (run.state.agentProblem === null && run.state.record?.updatedAt === rec.updatedAt && run.state.record.status === rec.status) return run;
  let state: RestoreWizardState = { ...run.state, record: rec, recordAt: now(), agentProblem: null };
  let step = run.step as RestoreWizardStep;
  const before = run.state.record;
  const changed = !before || before.status !== rec.status || before.phase !== rec.phase;
  const target = state.target?.url ?? null;
  const detail = { runId: run.id, restoreId: rec.id };
  if (changed && (!before || before.status !== rec.status)) {
    if (step === "stage" && rec.status === "awaiting-confirmation") {
      state = event(state, "stage", "verified", `Staged and verified on the target: ${rec.steps.find((s) => s.name === "verify")?.detail ?? "ok"}.`);
      audit(ctx.db, "restore.verified", target, "ok", { ...detail, diff: rec.diff?.summary ?? rec.diffError });
    } else if (rec.status === "failed") {
      state = event(state, step === "stage" ? "stage" : "restore", "failed", `${rec.error ?? "failed"} ${rec.targetState}`);
      audit(ctx.db, step === "stage" ? "restore.stage" : "restore.restore", target, "failed", { ...detail, error: rec.error, targetState: rec.targetState });
    } else if (rec.status === "succeeded" && step === "restore") {
      state = event(state, "restore", "succeeded", rec.targetState);
      audit(ctx.db, "restore.restore", target, "succeeded", { ...detail, asideDir: rec.asideDir, after: rec.after });
      step = "after";
      state = { ...state, nodes: null };
    } else if (rec.status === "rolled-back") {
      state = event(state, "rollback", "ok", rec.targetState);
      audit(ctx.db, "restore.rollback", target, "succeeded", { ...detail, after: rec.after });
      if (step === "restore") step = "after";
    }
  }
  if (step === "restore" && rec.status === "rolled-back") step = "after";
  return save(ctx, run, { step, state });
}

const NODES_RECHECK_MS = 3000;

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
    if (nodes.length && !notReady.length) return { state: "ready", message: `All ${nodes.length} node${nodes.length === 1 ? " is" : "s are"} Ready.`, startedAt: started, deadline, nodes, checkedAt: now() };
    const msg = nodes.length ? `Waiting for ${notReady.map((n) => n.name).join(", ")} to be Ready.` : "The API answers but lists no nodes yet.";
    return { state: late ? "timed-out" : "waiting", message: late ? `Not every node came back Ready within ${Math.round((ctx.nodesTimeoutMs ?? 300_000) / 60_000)} minutes: ${msg}` : msg, startedAt: started, deadline, nodes, checkedAt: now() };
  } catch (err) {
    const msg = `The Kubernetes API does not answer yet (${(err as Error).message.replace(/\.$/, "")}).`;
    return { state: late ? "timed-out" : "waiting", message: late ? `${msg} Gave up waiting after ${Math.round((ctx.nodesTimeoutMs ?? 300_000) / 60_000)} minutes.` : msg, startedAt: started, deadline, nodes: prev?.nodes ?? [], checkedAt: now() };
  }
}

/**
 * Brings a run up to date with the agent (restore record, recovery report) and the cluster (nodes
 * after the restore). An unreachable agent is recorded as `agentProblem`, never thrown: the page
 * keeps showing the last record it saw.
 */
export async function refreshRun(ctx: RestoreContext, runIn: Run): Promise<Run> {
  let run = runIn;
  if (run.status !== "active" || !run.state.target) return run;
  const step = run.step as RestoreWizardStep;
  let client: AgentClient;
  try {
    client = ctx.targets.client(run.state.target);
  } catch (err) {
    if (isTargetUnavailable(err)) return save(ctx, run, { state: { ...run.state, agentProblem: describeAgentProblem(err, run.state.target.url) } });
    throw err;
  }
  try {
    const rv = run.state.recovery;
    if (rv && !rv.report && !rv.error && step === "which") {
      const job = await client.job(rv.jobId).catch((e: unknown) => (isAgentError(e) && e.status === 404 ? null : Promise.reject(e)));
      if (!job || job.state === "succeeded") {
        const report = await client.recovery(rv.recoveryId).catch((e: unknown) => (isAgentError(e) && e.status === 404 ? null : Promise.reject(e)));
        if (report) {
          run = save(ctx, run, { state: event({ ...run.state, recovery: { ...rv, report } }, "recovery", report.best ? "ok" : "nothing", report.recommendation) });
          audit(ctx.db, "restore.recovery", run.state.target!.url, report.best ? "ok" : "nothing recovered", { runId: run.id, recoveryId: rv.recoveryId, best: report.best?.rung ?? null, rows: report.best?.rows ?? null });
        } else if (!job) run = save(ctx, run, { state: { ...run.state, recovery: { ...rv, error: "The agent restarted before the recovery finished: start it again." } } });
      } else if (job.state === "failed" || job.state === "cancelled") {
        run = save(ctx, run, { state: event({ ...run.state, recovery: { ...rv, error: job.error ?? "The recovery failed." } }, "recovery", "failed", job.error ?? "failed") });
        audit(ctx.db, "restore.recovery", run.state.target!.url, "failed", { runId: run.id, recoveryId: rv.recoveryId, error: job.error });
      }
    }
    if (run.state.restoreId && stepIndex(step) >= stepIndex("stage")) {
      const rec = await client.restore(run.state.restoreId);
      run = applyRecord(ctx, run, rec);
    }
  } catch (err) {
    if (!(isAgentError(err))) throw err;
    run = save(ctx, run, { state: { ...run.state, agentProblem: describeAgentProblem(err, client.baseUrl) } });
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

/** refreshRun under the run's lock (the background watcher uses it between a browser's actions). */
export function followRun(ctx: RestoreContext, id: string): Promise<Run> {
  return withLock(id, async () => refreshRun(ctx, load(ctx, id)));
}

async function previewOf(ctx: RestoreContext, state: RestoreWizardState): Promise<BackupPreview | null> {
  const c = state.candidate;
  if (!c || c.kind !== "backup") return null;
  const set = ctx.catalog.findSet(c.setId);
  const drill = ctx.drill(c.setId);
  const manifest = set ? await ctx.catalog.manifest(set) : null;
  return { set, manifest, stats: setStatsFrom(manifest, drill), drill, anomalies: set?.anomalies ?? [] };
}

/** The run as the page shows it: refreshed from the agent, with the live job and the chosen backup's preview. */
export async function viewRun(ctx: RestoreContext, runIn: Run, opts: { refresh?: boolean } = {}): Promise<RestoreWizardView> {
  const run = opts.refresh === false ? runIn : await followRun(ctx, runIn.id);
  let job: Job | null = null;
  if (run.status === "active" && run.state.target && run.state.jobId && (RUNNING(run.state.record) || !run.state.record)) {
    try {
      job = await ctx.targets.client(run.state.target).job(run.state.jobId);
    } catch {
      job = null; // the agent restarted (jobs live in its memory) or is away: the record's steps still show
    }
  }
  const step = run.step as RestoreWizardStep;
  return {
    id: run.id,
    step,
    status: run.status,
    createdAt: run.createdAt,
    updatedAt: run.updatedAt,
    state: run.state,
    configuredAgent: ctx.targets.configured()?.baseUrl ?? null,
    job,
    preview: stepIndex(step) >= stepIndex("preview") ? await previewOf(ctx, run.state) : null,
    kubeConfigured: ctx.nodes.configured(),
  };
}

/** The "Which backup" list: sets newest first with verification, flags and statistics, and the proposal. */
export async function restoreCandidates(ctx: RestoreContext, opts: { offset?: number; limit?: number } = {}): Promise<RestoreCandidates> {
  const all = ctx.catalog.sets();
  const offset = opts.offset ?? 0;
  const page = all.slice(offset, offset + (opts.limit ?? 20));
  const statsOf = new Map<string, SetStats | null>();
  const statsFor = async (s: CatalogSet) => {
    if (!statsOf.has(s.id)) statsOf.set(s.id, setStatsFrom(s.objects.some((o) => o.kind === "manifest") ? await ctx.catalog.manifest(s) : null, ctx.drill(s.id)));
    return statsOf.get(s.id)!;
  };
  await Promise.all(page.map(statsFor));
  let result = proposeBackup(all, (id) => statsOf.get(id) ?? setStatsFrom(null, ctx.drill(id)));
  if (result.proposal && !statsOf.has(result.proposal.setId)) {
    const chosen = all.find((s) => s.id === result.proposal!.setId)!;
    await statsFor(chosen);
    result = proposeBackup(all, (id) => statsOf.get(id) ?? setStatsFrom(null, ctx.drill(id)));
  }
  return {
    proposal: result.proposal ?? null,
    noProposal: result.none ?? null,
    sets: page.map((set) => ({ set, stats: statsOf.get(set.id) ?? null, drill: ctx.drill(set.id) })),
    total: all.length,
    refreshedAt: null,
  };
}

const ACTION_STEPS: Record<RestoreWizardAction["action"], RestoreWizardStep[]> = {
  "check-target": ["where"],
  recheck: STEP_ORDER,
  "accept-target": ["where"],
  "start-recovery": ["which"],
  choose: ["which"],
  stage: ["preview"],
  verified: ["stage"],
  confirm: ["confirm"],
  retry: ["stage", "restore"],
  rollback: ["restore", "after"],
  done: ["after"],
  back: ["which", "preview", "stage", "confirm"],
  abandon: STEP_ORDER,
};

/** Applies one action to a run. Throws ApiError: 409 wrong step or state, 400 bad input, 502 agent unreachable. */
export async function act(ctx: RestoreContext, id: string, raw: unknown): Promise<Run> {
  const action = RestoreWizardAction.parse(raw);
  return withLock(id, async () => {
    let run = load(ctx, id);
    if (run.status !== "active") throw new ApiError(409, "restore_closed", `This restore is ${run.status === "done" ? "finished" : "abandoned"}; start a new one.`);
    const step = run.step as RestoreWizardStep;
    if (!ACTION_STEPS[action.action].includes(step))
      throw new ApiError(409, "wrong_step", `"${action.action}" is not possible at the "${step}" step (another tab may have moved on). Reload the page.`);
    // Work from what the agent says now, not from what was last saved.
    if (run.state.restoreId && stepIndex(step) >= stepIndex("stage") && action.action !== "recheck") run = await refreshRun(ctx, run);
    return apply(ctx, run, action);
  });
}

async function chooseTarget(ctx: RestoreContext, state: RestoreWizardState, choice: TargetChoice): Promise<RestoreWizardState> {
  let target: AgentTarget;
  if (choice.kind === "configured") {
    const c = ctx.targets.configured();
    if (!c) throw new ApiError(409, "no_agent", "No agent is configured (LIFEBOAT_AGENT_URL / LIFEBOAT_AGENT_TOKEN): enter the agent of the machine to restore instead.");
    target = { kind: "configured", url: c.baseUrl, targetId: null };
  } else {
    target = ctx.targets.addNew(choice.url, choice.token);
  }
  if (state.target && state.target.targetId !== target.targetId) ctx.targets.forget(state.target);
  return readHealth(ctx, { ...state, target, health: null, recovery: null });
}

async function apply(ctx: RestoreContext, run: Run, action: RestoreWizardAction): Promise<Run> {
  let state = run.state;
  const step = run.step as RestoreWizardStep;
  const via = { runId: run.id };
  const url = state.target?.url ?? null;

  switch (action.action) {
    case "check-target": {
      state = await chooseTarget(ctx, state, action.target);
      const ok = state.agentProblem === null;
      audit(ctx.db, "restore.target", state.target!.url, ok ? "reachable" : "unreachable", { ...via, kind: state.target!.kind, verdict: state.health?.verdict ?? null, problem: state.agentProblem?.code ?? null });
      return save(ctx, run, { state: event(state, "target", ok ? "ok" : "unreachable", ok ? `The agent at ${state.target!.url} answers: database ${state.health!.verdict}.` : state.agentProblem!.message) });
    }

    case "recheck": {
      if (!state.target) throw new ApiError(409, "no_target", "Choose where to restore first.");
      if (step === "after") state = { ...state, nodes: null };
      state = await readHealth(ctx, state);
      audit(ctx.db, "restore.recheck", url, state.agentProblem ? "unreachable" : "ok", { ...via, step, verdict: state.health?.verdict ?? null });
      run = save(ctx, run, { state });
      return refreshRun(ctx, run);
    }

    case "accept-target": {
      if (!state.health) throw new ApiError(409, "no_health", state.agentProblem ? `The agent cannot be asked: ${state.agentProblem.message}` : "Check the target's agent first.");
      audit(ctx.db, "restore.target.accept", url, "ok", { ...via, verdict: state.health.verdict, disk: state.health.disk.enoughForStaging });
      return save(ctx, run, { step: "which", state: event(state, "target", "accepted", `Restoring onto ${url}.`) });
    }

    case "start-recovery": {
      if (state.recovery && !state.recovery.report && !state.recovery.error) throw new ApiError(409, "recovery_running", "A recovery attempt is already running.");
      const client = clientOf(ctx, state);
      let started;
      try {
        started = await client.startRecovery({ compareWith: "newest" });
      } catch (err) {
        agentApiError(err, client.baseUrl);
      }
      audit(ctx.db, "restore.recovery.start", url, "started", { ...via, recoveryId: started.recoveryId });
      state = event({ ...state, recovery: { recoveryId: started.recoveryId, jobId: started.jobId, startedAt: new Date().toISOString(), report: null, error: null } }, "recovery", "started", "The recovery ladder runs on a copy of the live database.");
      return save(ctx, run, { state });
    }

    case "choose": {
      const c = action.candidate;
      let what: string;
      if (c.kind === "backup") {
        const set = ctx.catalog.findSet(c.setId);
        if (!set) throw new ApiError(404, "no_such_set", `There is no backup set ${c.setId} in the catalog (any more). Refresh the list.`);
        what = c.setId;
      } else {
        const rv = state.recovery;
        if (!rv?.report || rv.recoveryId !== c.id) throw new ApiError(409, "no_recovery", "Run the recovery attempt first; its result is the candidate.");
        if (!rv.report.best) throw new ApiError(409, "nothing_recovered", "The recovery attempt produced no database that passes integrity_check: choose a backup.");
        what = `recovery ${c.id}`;
      }
      const proposal = c.kind === "backup" ? ((await restoreCandidates(ctx, { limit: 1 })).proposal ?? null) : null;
      const include = { ...state.include, ...action.include };
      const followed = proposal?.setId === (c.kind === "backup" ? c.setId : null);
      audit(ctx.db, "restore.choose", what, "ok", { ...via, proposed: proposal?.setId ?? null, followedProposal: followed, include });
      state = event({ ...state, candidate: c, include, proposal }, "choose", "ok", `Chose ${what}${proposal ? (followed ? " (the proposal)" : ` (the proposal was ${proposal.setId})`) : ""}.`);
      return save(ctx, run, { step: "preview", state });
    }

    case "stage": {
      if (!state.candidate) throw new ApiError(409, "no_candidate", "Choose a backup first.");
      state = { ...state, include: { ...state.include, ...action.include } };
      const client = clientOf(ctx, state);
      const { restoreId, jobId } = await startStaging(ctx, client, state);
      audit(ctx.db, "restore.stage", url, "started", { ...via, restoreId, source: state.candidate, include: state.include });
      state = event({ ...state, restoreId, jobId, record: null, recordAt: null }, "stage", "started", "Downloading, decrypting, unpacking and verifying on the target.");
      return save(ctx, run, { step: "stage", state });
    }

    case "verified": {
      if (state.record?.status !== "awaiting-confirmation") throw new ApiError(409, "not_verified", "The backup is not staged and verified yet.");
      audit(ctx.db, "restore.review", url, "ok", { ...via, restoreId: state.restoreId });
      return save(ctx, run, { step: "confirm", state: event(state, "review", "ok", "Reviewed what the restore changes.") });
    }

    case "confirm": {
      const rec = state.record;
      if (!rec?.canConfirm) throw new ApiError(409, "cannot_confirm", `This restore cannot be confirmed now (${rec ? `${rec.status}, ${rec.phase}` : "no record"}). ${rec?.targetState ?? ""}`.trim());
      // The agent compares the typed name with its own host name and refuses another (expectHost).
      const client = clientOf(ctx, state);
      let started;
      try {
        started = await client.confirmRestore(state.restoreId!, { expectHost: action.host });
      } catch (err) {
        audit(ctx.db, "restore.confirm", action.host, "refused", { ...via, restoreId: state.restoreId, error: (err as Error).message });
        agentApiError(err, client.baseUrl);
      }
      audit(ctx.db, "restore.confirm", action.host, "ok", { ...via, restoreId: state.restoreId, agent: url });
      state = event({ ...state, jobId: started.jobId, confirmedHost: action.host, confirmedAt: new Date().toISOString() }, "confirm", "ok", `Confirmed on ${action.host}: stopping k3s and swapping the database.`);
      return save(ctx, run, { step: "restore", state });
    }

    case "retry": {
      const rec = state.record;
      const client = clientOf(ctx, state);
      if (step === "stage") {
        if (RUNNING(rec)) throw new ApiError(409, "restore_running", "Staging is still running.");
        if (rec?.status === "awaiting-confirmation") throw new ApiError(409, "already_verified", "The backup is already staged and verified: continue to the confirmation.");
        state = await dropStaged(ctx, client, state);
        const { restoreId, jobId } = await startStaging(ctx, client, state);
        audit(ctx.db, "restore.stage", url, "retried", { ...via, restoreId });
        return save(ctx, run, { state: event({ ...state, restoreId, jobId }, "stage", "retried", "Staging again.") });
      }
      if (!rec?.canConfirm || !state.confirmedHost) throw new ApiError(409, "cannot_retry", `The restore cannot be retried from here (${rec?.status ?? "no record"}). ${rec?.canRollback ? "Roll back, or leave it as it is." : ""}`.trim());
      let started;
      try {
        started = await client.confirmRestore(state.restoreId!, { expectHost: state.confirmedHost });
      } catch (err) {
        agentApiError(err, client.baseUrl);
      }
      audit(ctx.db, "restore.confirm", state.confirmedHost, "retried", { ...via, restoreId: state.restoreId });
      return save(ctx, run, { state: event({ ...state, jobId: started.jobId }, "restore", "retried", "Trying the restore again.") });
    }

    case "rollback": {
      const rec = state.record;
      if (!rec?.canRollback) throw new ApiError(409, "cannot_rollback", `There is nothing to roll back (${rec ? `${rec.status}${rec.done ? ", marked done" : ""}` : "no restore"}).`);
      const client = clientOf(ctx, state);
      let started;
      try {
        started = await client.rollbackRestore(state.restoreId!);
      } catch (err) {
        agentApiError(err, client.baseUrl);
      }
      audit(ctx.db, "restore.rollback", url, "started", { ...via, restoreId: state.restoreId, asideDir: rec.asideDir });
      return save(ctx, run, { step: "after", state: event({ ...state, jobId: started.jobId }, "rollback", "started", `Putting the previous database back from ${rec.asideDir}.`) });
    }

    case "done": {
      const rec = state.record;
      if (RUNNING(rec)) throw new ApiError(409, "restore_running", "Wait until the agent has finished.");
      let outcome: RestoreWizardState["outcome"];
      if (rec?.status === "rolled-back") outcome = "rolled-back";
      else {
        if (!rec?.canMarkDone) throw new ApiError(409, "cannot_finish", `This restore cannot be marked done (${rec?.status ?? "no record"}).`);
        const client = clientOf(ctx, state);
        try {
          state = { ...state, record: await client.markRestoreDone(state.restoreId!), recordAt: new Date().toISOString() };
        } catch (err) {
          agentApiError(err, client.baseUrl);
        }
        outcome = "restored";
      }
      audit(ctx.db, "restore.done", url, outcome, { ...via, restoreId: state.restoreId, asideDir: rec?.asideDir ?? null });
      ctx.targets.forget(state.target);
      state = event({ ...state, outcome, finishedAt: new Date().toISOString() }, "done", outcome, outcome === "restored" ? "Restore kept; rollback is no longer offered (the previous database stays on disk)." : "Finished after the rollback.");
      return save(ctx, run, { status: "done", state });
    }

    case "back": {
      if (stepIndex(action.to) >= stepIndex(step)) throw new ApiError(409, "wrong_step", `Cannot go back from "${step}" to "${action.to}".`);
      if (state.restoreId) state = await dropStaged(ctx, clientOf(ctx, state), state);
      audit(ctx.db, "restore.back", url, "ok", { ...via, from: step, to: action.to });
      return save(ctx, run, { step: action.to, state: event(state, "back", "ok", `Back to "${action.to}".`) });
    }

    case "abandon": {
      const rec = state.record;
      if (RUNNING(rec) && rec?.status === "rolling-back") throw new ApiError(409, "restore_running", "A rollback is running: wait for it to finish.");
      if (RUNNING(rec) && targetTouched(rec)) throw new ApiError(409, "restore_running", "The restore is changing the target right now: wait for it to finish.");
      let note: string;
      if (state.restoreId && !targetTouched(rec)) {
        try {
          state = await dropStaged(ctx, clientOf(ctx, state), state);
        } catch (err) {
          if (!(err instanceof ApiError) || err.code !== "restore_running") throw err;
          throw new ApiError(409, "restore_running", "Staging is still running: wait for it to finish (it changes nothing on the target), then leave.");
        }
        note = "Nothing on the target changed.";
      } else note = rec ? rec.targetState : "Nothing on the target changed.";
      audit(ctx.db, "restore.abandon", url, "left as is", { ...via, step, restoreId: state.restoreId, targetState: note });
      ctx.targets.forget(state.target);
      state = event({ ...state, outcome: "left-as-is", finishedAt: new Date().toISOString() }, "abandon", "ok", `Left as it is at the "${step}" step. ${note}`);
      return save(ctx, run, { status: "abandoned", state });
    }
  }
}
