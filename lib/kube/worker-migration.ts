import { accessSync, constants, readFileSync } from "node:fs";
import { audit } from "../db/database";
import { wizardRuns, type WizardRun } from "../db/wizard-runs";
import { ApiError } from "../http/api";
import {
  WorkerMigrationState,
  type JoinInfo,
  type KubeErrorInfo,
  type NewNodeCandidate,
  type RevealedToken,
  type WorkerMigrationAction,
  type WorkerMigrationStep,
  type WorkerMigrationView,
} from "../contracts/nodes";
import { WorkerMigrationAction as ActionSchema } from "../contracts/nodes";
import type { NodeContext } from "./context";
import { rethrowAsApi as asApi } from "./http";
import { KubeError } from "./errors";
import { cordonNode, deleteNodeObject, listNodeSummaries } from "./node-service";
import { runPrecheck } from "./precheck";
import { nodeSummary, podKind } from "./views";

/**
 * The worker-migration wizard's server side: the steps of the incident write-up (cordon, drain,
 * delete, join the replacement) as a saved state machine in `wizard_runs` (kind
 * "worker-migration"). Each action is allowed only on its step, writes the audit log, and
 * answers the new view; a reload or another tab reads the same run.
 */

export const WORKER_MIGRATION_KIND = "worker-migration";

type Run = WizardRun<WorkerMigrationState>;

const emptyState = (): WorkerMigrationState => ({
  node: null,
  nodeInfo: null,
  precheck: null,
  precheckAcceptedAt: null,
  cordonedAt: null,
  drainJobId: null,
  drainedAt: null,
  deletedAt: null,
  knownNodeUids: [],
  tokenRevealedAt: null,
  waitingSince: null,
  newNode: null,
  finishedAt: null,
  events: [],
});

const now = () => new Date().toISOString();

function load(ctx: NodeContext, id: string): Run {
  const run = wizardRuns.get<WorkerMigrationState>(ctx.db, id);
  if (!run || run.kind !== WORKER_MIGRATION_KIND) throw new ApiError(404, "not_found", "This worker migration does not exist (any more). Open the wizard again to start a new one.");
  return { ...run, state: WorkerMigrationState.parse(run.state) };
}

function save(ctx: NodeContext, run: Run, patch: { step?: WorkerMigrationStep; status?: Run["status"]; state: WorkerMigrationState }): Run {
  return wizardRuns.update(ctx.db, run.id, patch);
}

function event(state: WorkerMigrationState, action: string, outcome: string, message: string): WorkerMigrationState {
  return { ...state, events: [...state.events, { at: now(), action, outcome, message }] };
}

/** The k3s server URL new workers join, and whether the token can be revealed here. */
export function joinInfo(ctx: NodeContext, kubeServer: string | null): JoinInfo {
  const server = ctx.env.LIFEBOAT_K3S_URL ?? kubeServer ?? "https://<server>:6443";
  let serverWarning: string | null = null;
  try {
    const host = new URL(server).hostname;
    if (["127.0.0.1", "localhost", "[::1]", "::1"].includes(host) || host.startsWith("127."))
      serverWarning = `The kubeconfig's server address (${server}) is a loopback address: a new worker cannot reach it. Set LIFEBOAT_K3S_URL to the k3s server's address as the workers see it (for example https://192.168.1.11:6443), or edit the command before running it.`;
  } catch {
    serverWarning = "No server address is known: set LIFEBOAT_K3S_URL (for example https://192.168.1.11:6443) or KUBECONFIG.";
  }
  const file = ctx.env.LIFEBOAT_K3S_TOKEN_FILE;
  let tokenAvailable = false;
  let tokenHelp: string | null = null;
  if (!file) {
    tokenHelp = "To reveal the join token here, set LIFEBOAT_K3S_TOKEN_FILE to a copy of the server's /var/lib/rancher/k3s/server/node-token (readable only by the dashboard). Or read it on the server: sudo cat /var/lib/rancher/k3s/server/node-token";
  } else {
    try {
      accessSync(file, constants.R_OK);
      tokenAvailable = true;
    } catch {
      tokenHelp = `LIFEBOAT_K3S_TOKEN_FILE is set, but ${file} cannot be read by the dashboard. Fix its path or permissions, or read the token on the server: sudo cat /var/lib/rancher/k3s/server/node-token`;
    }
  }
  return { server, serverWarning, tokenAvailable, tokenHelp, command: joinCommand(server, "<token>") };
}

const shellWord = (s: string) => (/^[A-Za-z0-9:._\/@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
/** The join command of the incident write-up, with the values filled in. */
export const joinCommand = (server: string, token: string) => `curl -sfL https://get.k3s.io | K3S_URL=${shellWord(server)} K3S_TOKEN=${token === "<token>" ? token : shellWord(token)} sh -`;

/** The run as the page shows it: saved state plus live drain progress, join info and new-node candidates. */
export async function viewRun(ctx: NodeContext, runIn: Run): Promise<WorkerMigrationView> {
  let run = runIn;
  let error: KubeErrorInfo | null = null;
  let candidates: NewNodeCandidate[] = [];
  let kubeServer: string | null = null;
  try {
    kubeServer = ctx.client().cluster.server;
  } catch (e) {
    if (e instanceof KubeError) error = e.toInfo();
    else throw e;
  }
  if (run.status === "active" && run.step === "wait" && !error) {
    try {
      const nodes = await listNodeSummaries(ctx.client());
      candidates = nodes
        .filter((n) => !run.state.knownNodeUids.includes(n.uid))
        .map((n) => ({ name: n.name, uid: n.uid, ready: n.ready, createdAt: n.createdAt, kubeletVersion: n.kubeletVersion, internalIP: n.internalIP }));
      const ready = candidates.find((c) => c.ready === "Ready");
      if (ready && !run.state.newNode) {
        const state = event({ ...run.state, newNode: { name: ready.name, uid: ready.uid, internalIP: ready.internalIP, kubeletVersion: ready.kubeletVersion, readyAt: now() } }, "new-node", "ok", `${ready.name} joined and is Ready.`);
        audit(ctx.db, "worker-migration.new-node", ready.name, "ok", { runId: run.id, replaces: run.state.node });
        run = save(ctx, run, { state });
      }
    } catch (e) {
      if (e instanceof KubeError) error = e.toInfo();
      else throw e;
    }
  }
  return {
    id: run.id,
    step: run.step as WorkerMigrationStep,
    status: run.status,
    createdAt: run.createdAt,
    updatedAt: run.updatedAt,
    state: run.state,
    drain: run.state.drainJobId ? (ctx.drains.get(run.state.drainJobId) ?? null) : null,
    join: ["join", "wait", "summary"].includes(run.step) ? joinInfo(ctx, kubeServer) : null,
    candidates,
    error,
  };
}

/** The active run, if any. */
export function activeRun(ctx: NodeContext): Run | undefined {
  const run = wizardRuns.active<WorkerMigrationState>(ctx.db, WORKER_MIGRATION_KIND);
  return run ? { ...run, state: WorkerMigrationState.parse(run.state) } : undefined;
}

export function getRun(ctx: NodeContext, id: string): Run {
  return load(ctx, id);
}

/**
 * Starts a migration of `node` (step 1 done: pre-checks run at once). Throws ApiError 409 when
 * another migration is active, 422 for a control-plane node, and the Kubernetes errors as ApiErrors.
 */
export async function startMigration(ctx: NodeContext, node: string): Promise<Run> {
  const active = activeRun(ctx);
  if (active) throw new ApiError(409, "migration_active", `A migration of ${active.state.node ?? "a worker"} is already in progress. Finish or abandon it first.`, { runId: active.id });
  const state = await chooseNode(ctx, emptyState(), node);
  const run = wizardRuns.create<WorkerMigrationState>(ctx.db, WORKER_MIGRATION_KIND, "precheck", state);
  audit(ctx.db, "worker-migration.start", node, "ok", { runId: run.id, warnings: state.precheck?.warnings.length ?? 0 });
  return run;
}

async function chooseNode(ctx: NodeContext, state: WorkerMigrationState, node: string): Promise<WorkerMigrationState> {
  try {
    const client = ctx.client();
    const [n, pods] = await Promise.all([client.readNode(node), client.listPods({ nodeName: node })]);
    const s = nodeSummary(n, pods);
    if (s.controlPlane)
      throw new ApiError(422, "control_plane", `${node} runs the k3s server (control plane: ${s.roles.join(", ")}). This wizard replaces workers only; to move the server, restore it from a backup with the restore wizard.`);
    const precheck = await runPrecheck(client, node);
    return event(
      {
        ...state,
        node,
        nodeInfo: { uid: s.uid, internalIP: s.internalIP, kubeletVersion: s.kubeletVersion, osImage: s.osImage, architecture: s.architecture, podCount: s.podCount },
        precheck,
      },
      "precheck",
      precheck.warnings.length ? "warnings" : "ok",
      precheck.warnings.length ? `Pre-checks found ${precheck.warnings.length} thing${precheck.warnings.length === 1 ? "" : "s"} to look at.` : "Pre-checks passed.",
    );
  } catch (e) {
    asApi(e);
  }
}

const STEP_OF: Record<WorkerMigrationAction["action"], WorkerMigrationStep[]> = {
  precheck: ["precheck"],
  "accept-precheck": ["precheck"],
  cordon: ["cordon"],
  drain: ["drain"],
  "cancel-drain": ["drain"],
  drained: ["drain"],
  delete: ["delete"],
  joined: ["join"],
  finish: ["wait"],
  abandon: ["precheck", "cordon", "drain", "delete", "join", "wait"],
};

/** Applies one action to a run. Throws ApiError (409 wrong step, 400 bad confirmation, Kubernetes errors). */
export async function act(ctx: NodeContext, id: string, raw: unknown): Promise<Run> {
  const action = ActionSchema.parse(raw);
  const run = load(ctx, id);
  if (run.status !== "active") throw new ApiError(409, "migration_closed", `This migration is ${run.status === "done" ? "finished" : "abandoned"}; start a new one.`);
  if (!STEP_OF[action.action].includes(run.step as WorkerMigrationStep))
    throw new ApiError(409, "wrong_step", `"${action.action}" is not possible at the "${run.step}" step (another tab may have moved on). Reload the page.`);
  const node = run.state.node!;
  const via = { via: "worker migration", runId: run.id };
  let state = run.state;

  switch (action.action) {
    case "precheck":
      return save(ctx, run, { state: await chooseNode(ctx, state, node) });

    case "accept-precheck": {
      const warnings = state.precheck?.warnings.length ?? 0;
      if (warnings && !action.acknowledgeWarnings) throw new ApiError(400, "acknowledge_warnings", `The pre-checks found ${warnings} warning${warnings === 1 ? "" : "s"}: confirm that you have read them to continue.`);
      state = event({ ...state, precheckAcceptedAt: now() }, "precheck-accepted", "ok", warnings ? `Continued despite ${warnings} warning${warnings === 1 ? "" : "s"}.` : "Continued.");
      audit(ctx.db, "worker-migration.precheck-accepted", node, "ok", { ...via, warnings });
      return save(ctx, run, { step: "cordon", state });
    }

    case "cordon":
      try {
        const r = await cordonNode(ctx, node, via);
        return save(ctx, run, { step: "drain", state: event({ ...state, cordonedAt: now() }, "cordon", "ok", r.message) });
      } catch (e) {
        asApi(e);
      }

    case "drain": {
      const current = state.drainJobId ? ctx.drains.get(state.drainJobId) : undefined;
      if (current?.state === "running") throw new ApiError(409, "drain_running", "The drain is still running; wait for it or stop it.");
      try {
        const job = ctx.drains.start(node, action.options, via);
        return save(ctx, run, { state: event({ ...state, drainJobId: job.id }, "drain", "started", job.kubectl) });
      } catch (e) {
        asApi(e);
      }
    }

    case "cancel-drain": {
      if (state.drainJobId) await ctx.drains.cancel(state.drainJobId);
      return save(ctx, run, { state: event(state, "drain", "cancelled", "The drain was stopped.") });
    }

    case "drained": {
      const job = state.drainJobId ? ctx.drains.get(state.drainJobId) : undefined;
      if (job?.state !== "succeeded") throw new ApiError(409, "not_drained", `${node} is not drained yet${job ? ` (the last drain ${job.state})` : ""}. Drain it first.`);
      const evicted = job.pods.filter((p) => p.state === "gone").length;
      return save(ctx, run, { step: "delete", state: event({ ...state, drainedAt: now() }, "drain", "succeeded", job.message ?? `${evicted} pods evicted.`) });
    }

    case "delete": {
      if (action.confirm !== node) throw new ApiError(400, "confirm_mismatch", `Type the node's name, ${node}, exactly to delete it.`);
      try {
        const client = ctx.client();
        // Something may have landed on the node since the drain (e.g. it was uncordoned).
        const left = (await client.listPods({ nodeName: node })).filter((p) => !p.metadata?.deletionTimestamp && ["workload", "unmanaged"].includes(podKind(p)));
        if (left.length)
          throw new ApiError(409, "pods_back", `${left.length} pod${left.length === 1 ? " is" : "s are"} running on ${node} again (${left.map((p) => p.metadata?.name).join(", ")}). Cordon and drain it again before deleting it.`);
        try {
          await deleteNodeObject(ctx, node, via);
        } catch (e) {
          if (!(e instanceof KubeError && e.code === "not_found")) throw e;
        }
        const remaining = await client.listNodes();
        state = event({ ...state, deletedAt: now(), knownNodeUids: remaining.map((n) => n.metadata?.uid ?? "") }, "delete", "ok", `The node object ${node} is deleted.`);
        return save(ctx, run, { step: "join", state });
      } catch (e) {
        asApi(e);
      }
    }

    case "joined":
      return save(ctx, run, { step: "wait", state: event({ ...state, waitingSince: now() }, "join", "ok", "Waiting for the replacement to register.") });

    case "finish": {
      const newNode = state.newNode;
      if (!newNode) throw new ApiError(409, "no_new_node", "No new node is Ready yet. Wait for it to join, or abandon the migration.");
      state = event({ ...state, finishedAt: now() }, "finish", "ok", `${node} was replaced by ${newNode.name}.`);
      audit(ctx.db, "worker-migration.finish", node, "ok", { ...via, newNode: newNode.name });
      return save(ctx, run, { step: "summary", status: "done", state });
    }

    case "abandon": {
      if (state.drainJobId) await ctx.drains.cancel(state.drainJobId);
      const note = state.cordonedAt && !state.deletedAt ? ` ${node} stays cordoned; uncordon it on the Nodes page to use it again.` : "";
      audit(ctx.db, "worker-migration.abandon", node, "ok", { ...via, step: run.step });
      return save(ctx, run, { status: "abandoned", state: event(state, "abandon", "ok", `Abandoned at the "${run.step}" step.${note}`) });
    }
  }
}

/**
 * Reads the k3s join token for the join step, after an explicit reveal. Audits the reveal (never
 * the value). Throws ApiError when the run is not at the join/wait step or the file is unusable.
 */
export function revealToken(ctx: NodeContext, id: string): RevealedToken {
  const run = load(ctx, id);
  if (run.status !== "active" || !["join", "wait"].includes(run.step)) throw new ApiError(409, "wrong_step", "The join token is only shown at the join step of an active migration.");
  const file = ctx.env.LIFEBOAT_K3S_TOKEN_FILE;
  if (!file) throw new ApiError(404, "no_token_file", "LIFEBOAT_K3S_TOKEN_FILE is not set, so the dashboard has no copy of the join token. Read it on the server: sudo cat /var/lib/rancher/k3s/server/node-token");
  let token: string;
  try {
    token = readFileSync(file, "utf8").trim();
  } catch (e) {
    audit(ctx.db, "worker-migration.token.reveal", run.state.node, "failed", { runId: run.id, error: (e as NodeJS.ErrnoException).code });
    throw new ApiError(503, "token_unreadable", `The token file named by LIFEBOAT_K3S_TOKEN_FILE cannot be read (${(e as NodeJS.ErrnoException).code}). Fix its path or permissions.`);
  }
  if (!token) throw new ApiError(503, "token_empty", "The token file named by LIFEBOAT_K3S_TOKEN_FILE is empty.");
  audit(ctx.db, "worker-migration.token.reveal", run.state.node, "ok", { runId: run.id });
  if (!run.state.tokenRevealedAt) save(ctx, run, { state: event({ ...run.state, tokenRevealedAt: now() }, "token", "revealed", "The join token was revealed.") });
  const info = joinInfo(ctx, (() => {
    try {
      return ctx.client().cluster.server;
    } catch {
      return null;
    }
  })());
  return { token, command: joinCommand(info.server, token) };
}
