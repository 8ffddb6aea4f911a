import "server-only";
import type { Job } from "../contracts/agent-jobs";
import { audit } from "../db/database";
import { defineWizard } from "../wizard/engine";
import { RestoreWizardAction, RestoreWizardState, type BackupPreview, type RestoreWizardStep, type RestoreWizardView } from "./contracts";
import { setStatsFrom } from "./set-stats";
import { choose, startRecovery } from "./steps/backup";
import { abandon, back } from "./steps/leave";
import { confirm, done, retry, rollback } from "./steps/restore";
import { stage, verified } from "./steps/stage";
import { acceptTarget, checkTarget, recheck } from "./steps/target";
import { MASTER_RESTORE_KIND, STEP_ORDER, emptyState, isRunning, stepIndex, type RestoreContext, type RestoreRun } from "./wizard-core";
import { refreshRun } from "./wizard-refresh";

export { restoreCandidates } from "./candidates";
export { MASTER_RESTORE_KIND, type CatalogPort, type NodesPort, type RestoreContext } from "./wizard-core";
export { refreshRun } from "./wizard-refresh";

/**
 * The master-restore wizard's server side: a run in `wizard_runs` (kind "master-restore") moved by
 * one handler per action (./steps/), each allowed only on its steps, audited, answering the new
 * view. Everything the agent does is followed through the restore id kept in the run, so a reload,
 * a closed tab or a dashboard restart comes back to the same step and the same restore; the agent's
 * own journal is the truth about the target's files.
 *
 * Steps: where → which → preview → stage → confirm → restore → after.
 */
const restoreWizard = defineWizard<RestoreContext, RestoreWizardState, RestoreWizardStep, RestoreWizardAction>({
  kind: MASTER_RESTORE_KIND,
  parseState: (raw) => RestoreWizardState.parse(raw),
  parseAction: (raw) => RestoreWizardAction.parse(raw),
  allowedOn: {
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
  },
  handlers: {
    "check-target": checkTarget,
    recheck,
    "accept-target": acceptTarget,
    "start-recovery": startRecovery,
    choose,
    stage,
    verified,
    confirm,
    retry,
    rollback,
    done,
    back,
    abandon,
  },
  // Work from what the agent says now, not from what was last saved.
  beforeAction: async (ctx, run, action) =>
    run.state.restoreId && stepIndex(run.step as RestoreWizardStep) >= stepIndex("stage") && action.action !== "recheck" ? refreshRun(ctx, run) : run,
  codes: { active: "restore_active", closed: "restore_closed" },
  messages: {
    noun: "restore",
    notFound: "This restore does not exist (any more). Open the restore wizard again to start a new one.",
    active: () => "A restore is already in progress in the wizard. Continue it, or abandon it first.",
    unreadable:
      "If it had staged or started a restore, the agent still has it: `lifeboat-agent restore --list` on the server shows it; confirm, cancel (`restore --cancel <id>`) or roll it back there.",
  },
});

/** The active run, if any. */
export function activeRun(ctx: Pick<RestoreContext, "db">): RestoreRun | undefined {
  return restoreWizard.active(ctx);
}

/** The run. Throws DomainError `not_found`. */
export function getRun(ctx: RestoreContext, id: string): RestoreRun {
  return restoreWizard.get(ctx, id);
}

/** Why restore drills should wait (an active run about to use or using the target), or null. */
export function drillPauseReason(ctx: Pick<RestoreContext, "db">): string | null {
  const run = activeRun(ctx);
  if (!run || stepIndex(run.step as RestoreWizardStep) < stepIndex("preview")) return null;
  return "A restore is in progress in the restore wizard: restore drills wait until it is finished.";
}

/** Starts a run at step 1. Throws DomainError `restore_active` (with `runId`) when one is active. */
export function startRun(ctx: RestoreContext): RestoreRun {
  const run = restoreWizard.create(ctx, "where", emptyState());
  audit(ctx.db, "restore.start", null, "ok", { runId: run.id });
  return run;
}

/** Applies one action to a run. Throws DomainError: 409 wrong step or state, 400 bad input, 502 agent unreachable. */
export function act(ctx: RestoreContext, id: string, raw: unknown): Promise<RestoreRun> {
  return restoreWizard.act(ctx, id, raw);
}

/** Events after which the agent works on the run's restore (until the refresh sees it and adds the outcome's event). */
const STARTED = new Set(["stage:started", "stage:retried", "confirm:ok", "restore:retried", "rollback:started"]);

/**
 * Whether the background watcher should follow the run: the agent works on its restore, or was just
 * asked to (a confirmation or rollback whose start no refresh has seen yet: the dashboard restarted,
 * or the agent did not answer right after).
 */
export function needsFollowing(run: RestoreRun | undefined): boolean {
  if (!run || run.status !== "active" || !run.state.restoreId) return false;
  const rec = run.state.record;
  const last = run.state.events.at(-1);
  return !rec || isRunning(rec) || (last !== undefined && STARTED.has(`${last.action}:${last.outcome}`));
}

/** refreshRun under the run's lock (the background watcher uses it between a browser's actions). */
export function followRun(ctx: RestoreContext, id: string): Promise<RestoreRun> {
  return restoreWizard.withRun(ctx, id, (run) => refreshRun(ctx, run));
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
export async function viewRun(ctx: RestoreContext, runIn: RestoreRun, opts: { refresh?: boolean } = {}): Promise<RestoreWizardView> {
  const run = opts.refresh === false ? runIn : await followRun(ctx, runIn.id);
  let job: Job | null = null;
  if (run.status === "active" && run.state.target && run.state.jobId && (isRunning(run.state.record) || !run.state.record)) {
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
