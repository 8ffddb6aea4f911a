import "server-only";
import type { Logger } from "pino";
import type { AgentClient } from "../agent/agent-client";
import type { RestoreRecord } from "../contracts/agent-restore";
import type { CatalogSet, ManifestState } from "../contracts/catalog";
import { DomainError, isDomainError } from "../contracts/errors";
import type { Db } from "../db/database";
import { saveRun, type Run, type RunStatus, type StepHandler } from "../wizard/engine";
import type { AgentTargets } from "./agent-targets";
import type { AgentProblem, DrillRecord, RestoreWizardAction, RestoreWizardState, RestoreWizardStep } from "./contracts";

/**
 * What every part of the master-restore wizard shares: its context (ports to the catalog, the
 * agents and the cluster), the step order, and small facts about a run. The steps' handlers live in
 * ./steps/, the refresh from the agent in ./wizard-refresh.ts, the wizard itself in ./wizard.ts.
 */

export const MASTER_RESTORE_KIND = "master-restore";

export type RestoreRun = Run<RestoreWizardState>;

/** What the wizard reads from the catalog (the dashboard's CatalogService in production). */
export interface CatalogPort {
  /** Every set, newest first, with its verification. */
  sets(): CatalogSet[];
  findSet(id: string): CatalogSet | null;
  /** Never throws: a missing or unreadable manifest is a state. */
  manifest(set: CatalogSet): Promise<ManifestState>;
}

/** Nodes coming back after the restore, from the Kubernetes API (the node service in production). */
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

export const now = () => new Date().toISOString();
export const STEP_ORDER: RestoreWizardStep[] = ["where", "which", "preview", "stage", "confirm", "restore", "after"];
export const stepIndex = (s: RestoreWizardStep) => STEP_ORDER.indexOf(s);

export const emptyState = (): RestoreWizardState => ({
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

/** Saves the run (typed to the restore wizard's steps). */
export function save(
  ctx: Pick<RestoreContext, "db">,
  run: RestoreRun,
  patch: { step?: RestoreWizardStep; status?: RunStatus; state: RestoreWizardState },
): RestoreRun {
  return saveRun(ctx.db, run, patch);
}

/** The chosen target's client. Throws DomainError `no_target`, or `target_unavailable` when its token is gone. */
export function clientOf(ctx: RestoreContext, state: RestoreWizardState): AgentClient {
  if (!state.target) throw new DomainError("no_target", "Choose where to restore first (step 1).");
  return ctx.targets.client(state.target);
}

/** An agent that could not be asked, as the state the page shows (the error's own code, sentence and hint). */
export function agentProblemOf(err: unknown, url: string): AgentProblem {
  const hint = isDomainError(err) && typeof err.details?.hint === "string" ? err.details.hint : "the dashboard's log.";
  return { url, code: isDomainError(err) ? err.code : "internal", message: err instanceof Error ? err.message : String(err), hint, at: now() };
}

/** Whether anything on the target may have changed (the swap began). */
export function targetTouched(rec: RestoreRecord | null): boolean {
  if (!rec) return false;
  return (
    rec.asideDir !== null ||
    rec.status === "succeeded" ||
    rec.status === "rolling-back" ||
    rec.status === "rolled-back" ||
    /^swap|^owner|^start|^check|^rollback/.test(rec.phase)
  );
}

/** Whether the agent is working on the restore right now. */
export const isRunning = (rec: RestoreRecord | null) => rec?.status === "running" || rec?.status === "rolling-back";

/** One action of the wizard's contract, by name. */
export type ActionOf<K extends RestoreWizardAction["action"]> = Extract<RestoreWizardAction, { action: K }>;
/** The handler of one action (see lib/wizard/engine.ts). */
export type RestoreHandler<K extends RestoreWizardAction["action"]> = StepHandler<RestoreContext, RestoreWizardState, ActionOf<K>>;
