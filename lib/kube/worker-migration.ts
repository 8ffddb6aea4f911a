import "server-only";
import { readFileSync } from "node:fs";
import type { z } from "zod";
import { DomainError } from "../contracts/errors";
import { audit } from "../db/database";
import { abandonRun, addEvent, defineWizard, saveRun, type Run as WizardRun, type RunStatus } from "../wizard/engine";
import {
  WorkerMigrationState,
  type KubeErrorInfo,
  type NewNodeCandidate,
  type RevealedToken,
  type WorkerMigrationStep,
  type WorkerMigrationView,
} from "../contracts/nodes";
import { WorkerMigrationAction as ActionSchema } from "../contracts/nodes";
import type { NodeContext } from "./context";
import { isKubeError } from "./errors";
import { joinCommand, joinInfo } from "./join";
import { cordonNode, deleteNodeObject, listNodeSummaries } from "./node-service";
import { runPrecheck } from "./precheck";
import { nodeSummary, podKind } from "./views";

/**
 * The worker-migration wizard's server side: the steps of the incident write-up (cordon, drain,
 * delete, join the replacement) as a run in `wizard_runs` (kind "worker-migration") moved by one
 * handler per action (lib/wizard/engine.ts). Each action is allowed only on its step, writes the
 * audit log, and answers the new view; a reload or another tab reads the same run.
 */

export const WORKER_MIGRATION_KIND = "worker-migration";

export type Run = WizardRun<WorkerMigrationState>;
type Action = z.output<typeof ActionSchema>;
type ActionOf<K extends Action["action"]> = Extract<Action, { action: K }>;
const save = (ctx: NodeContext, run: Run, patch: { step?: WorkerMigrationStep; status?: RunStatus; state: WorkerMigrationState }): Run =>
  saveRun(ctx.db, run, patch);

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

/** The run as the page shows it: saved state plus live drain progress, join info and new-node candidates. */
export async function viewRun(ctx: NodeContext, runIn: Run): Promise<WorkerMigrationView> {
  let run = runIn;
  let error: KubeErrorInfo | null = null;
  let candidates: NewNodeCandidate[] = [];
  let kubeServer: string | null = null;
  try {
    kubeServer = ctx.client().cluster.server;
  } catch (e) {
    if (isKubeError(e)) error = e.toInfo();
    else throw e;
  }
  if (run.status === "active" && run.step === "wait" && !error) {
    try {
      const nodes = await listNodeSummaries(ctx.client());
      candidates = nodes
        .filter((n) => !run.state.knownNodeUids.includes(n.uid))
        .map((n) => ({ name: n.name, uid: n.uid, ready: n.ready, createdAt: n.createdAt, kubeletVersion: n.kubeletVersion, internalIP: n.internalIP }));
      const ready = candidates.find((c) => c.ready === "Ready");
      // Under the run's lock, on the run as saved now: another tab's poll may have recorded it, or an action closed the run.
      if (ready && !run.state.newNode)
        run = await migrationWizard.withRun(ctx, run.id, async (fresh) => {
          if (fresh.status !== "active" || fresh.step !== "wait" || fresh.state.newNode) return fresh;
          const state = addEvent(
            {
              ...fresh.state,
              newNode: { name: ready.name, uid: ready.uid, internalIP: ready.internalIP, kubeletVersion: ready.kubeletVersion, readyAt: now() },
            },
            "new-node",
            "ok",
            `${ready.name} joined and is Ready.`,
          );
          audit(ctx.db, "worker-migration.new-node", ready.name, "ok", { runId: fresh.id, replaces: fresh.state.node });
          return save(ctx, fresh, { state });
        });
    } catch (e) {
      if (isKubeError(e)) error = e.toInfo();
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
  return migrationWizard.active(ctx);
}

/** The run. Throws DomainError `not_found`. */
export function getRun(ctx: NodeContext, id: string): Run {
  return migrationWizard.get(ctx, id);
}

/**
 * Starts a migration of `node` (step 1 done: pre-checks run at once). Throws DomainError
 * `migration_active` when another migration is active, `control_plane` for a control-plane node,
 * and KubeErrors.
 */
export async function startMigration(ctx: NodeContext, node: string): Promise<Run> {
  migrationWizard.assertNoneActive(ctx);
  const state = await chooseNode(ctx, emptyState(), node);
  const run = migrationWizard.create(ctx, "precheck", state);
  audit(ctx.db, "worker-migration.start", node, "ok", { runId: run.id, warnings: state.precheck?.warnings.length ?? 0 });
  return run;
}

/** The node, its summary and the pre-checks. Throws DomainError `control_plane`, KubeErrors. */
async function chooseNode(ctx: NodeContext, state: WorkerMigrationState, node: string): Promise<WorkerMigrationState> {
  const client = ctx.client();
  const [n, pods] = await Promise.all([client.readNode(node), client.listPods({ nodeName: node })]);
  const s = nodeSummary(n, pods);
  if (s.controlPlane)
    throw new DomainError(
      "control_plane",
      `${node} runs the k3s server (control plane: ${s.roles.join(", ")}). This wizard replaces workers only; to move the server, restore it from a backup with the restore wizard.`,
    );
  const precheck = await runPrecheck(client, node);
  const found = precheck.warnings.length;
  return addEvent(
    {
      ...state,
      node,
      nodeInfo: {
        uid: s.uid,
        internalIP: s.internalIP,
        kubeletVersion: s.kubeletVersion,
        osImage: s.osImage,
        architecture: s.architecture,
        podCount: s.podCount,
      },
      precheck,
    },
    "precheck",
    found ? "warnings" : "ok",
    found ? `Pre-checks found ${found} thing${found === 1 ? "" : "s"} to look at.` : "Pre-checks passed.",
  );
}

const via = (run: Run) => ({ via: "worker migration", runId: run.id });
const nodeOf = (run: Run) => run.state.node!;
type Handler<K extends Action["action"]> = (ctx: NodeContext, run: Run, action: ActionOf<K>) => Promise<Run> | Run;

const acceptPrecheck: Handler<"accept-precheck"> = (ctx, run, action) => {
  const warnings = run.state.precheck?.warnings.length ?? 0;
  if (warnings && !action.acknowledgeWarnings)
    throw new DomainError(
      "acknowledge_warnings",
      `The pre-checks found ${warnings} warning${warnings === 1 ? "" : "s"}: confirm that you have read them to continue.`,
    );
  const state = addEvent(
    { ...run.state, precheckAcceptedAt: now() },
    "precheck-accepted",
    "ok",
    warnings ? `Continued despite ${warnings} warning${warnings === 1 ? "" : "s"}.` : "Continued.",
  );
  audit(ctx.db, "worker-migration.precheck-accepted", nodeOf(run), "ok", { ...via(run), warnings });
  return save(ctx, run, { step: "cordon", state });
};

const cordon: Handler<"cordon"> = async (ctx, run) => {
  const r = await cordonNode(ctx, nodeOf(run), via(run));
  return save(ctx, run, { step: "drain", state: addEvent({ ...run.state, cordonedAt: now() }, "cordon", "ok", r.message) });
};

const drain: Handler<"drain"> = (ctx, run, action) => {
  const current = run.state.drainJobId ? ctx.drains.get(run.state.drainJobId) : undefined;
  if (current?.state === "running") throw new DomainError("drain_running", "The drain is still running; wait for it or stop it.");
  const job = ctx.drains.start(nodeOf(run), action.options, via(run));
  return save(ctx, run, { state: addEvent({ ...run.state, drainJobId: job.id }, "drain", "started", job.kubectl) });
};

const cancelDrain: Handler<"cancel-drain"> = async (ctx, run) => {
  if (run.state.drainJobId) await ctx.drains.cancel(run.state.drainJobId);
  return save(ctx, run, { state: addEvent(run.state, "drain", "cancelled", "The drain was stopped.") });
};

const drained: Handler<"drained"> = (ctx, run) => {
  const node = nodeOf(run);
  const job = run.state.drainJobId ? ctx.drains.get(run.state.drainJobId) : undefined;
  if (job?.state !== "succeeded")
    throw new DomainError("not_drained", `${node} is not drained yet${job ? ` (the last drain ${job.state})` : ""}. Drain it first.`);
  // A dead worker's evicted pods end "deleted" (its kubelet cannot confirm): the drain succeeded
  // without waiting for them, and deleting the node object next lets the pod GC remove them.
  const evicted = job.pods.filter((p) => p.state === "gone" || p.state === "deleted").length;
  return save(ctx, run, {
    step: "delete",
    state: addEvent({ ...run.state, drainedAt: now() }, "drain", "succeeded", job.message ?? `${evicted} pods evicted.`),
  });
};

const deleteNode: Handler<"delete"> = async (ctx, run, action) => {
  const node = nodeOf(run);
  if (action.confirm !== node) throw new DomainError("confirm_mismatch", `Type the node's name, ${node}, exactly to delete it.`);
  const client = ctx.client();
  // Something may have landed on the node since the drain (e.g. it was uncordoned).
  const pods = await client.listPods({ nodeName: node });
  const left = pods.filter((p) => !p.metadata?.deletionTimestamp && ["workload", "unmanaged"].includes(podKind(p)));
  // Pods deleted but still Terminating: on a dead (NotReady) worker nobody confirms them; the pod GC
  // removes them once the node object is gone.
  const terminating = pods.filter((p) => p.metadata?.deletionTimestamp).map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`);
  if (left.length)
    throw new DomainError(
      "pods_back",
      `${left.length} pod${left.length === 1 ? " is" : "s are"} running on ${node} again (${left.map((p) => p.metadata?.name).join(", ")}). Cordon and drain it again before deleting it.`,
    );
  try {
    await deleteNodeObject(ctx, node, via(run));
  } catch (e) {
    if (!isKubeError(e, "not_found")) throw e;
  }
  const remaining = await client.listNodes();
  const state = addEvent(
    { ...run.state, deletedAt: now(), knownNodeUids: remaining.map((n) => n.metadata?.uid ?? "") },
    "delete",
    "ok",
    `The node object ${node} is deleted.` +
      (terminating.length
        ? ` The pod garbage collector now removes the ${terminating.length === 1 ? "pod" : `${terminating.length} pods`} still Terminating on it (${terminating.join(", ")}); a StatefulSet recreates its pod elsewhere only then.`
        : ""),
  );
  return save(ctx, run, { step: "join", state });
};

const finish: Handler<"finish"> = (ctx, run) => {
  const node = nodeOf(run);
  const newNode = run.state.newNode;
  if (!newNode) throw new DomainError("no_new_node", "No new node is Ready yet. Wait for it to join, or abandon the migration.");
  const state = addEvent({ ...run.state, finishedAt: now() }, "finish", "ok", `${node} was replaced by ${newNode.name}.`);
  audit(ctx.db, "worker-migration.finish", node, "ok", { ...via(run), newNode: newNode.name });
  return save(ctx, run, { step: "summary", status: "done", state });
};

const abandon: Handler<"abandon"> = async (ctx, run) => {
  const node = nodeOf(run);
  if (run.state.drainJobId) await ctx.drains.cancel(run.state.drainJobId);
  const note = run.state.cordonedAt && !run.state.deletedAt ? ` ${node} stays cordoned; uncordon it on the Nodes page to use it again.` : "";
  audit(ctx.db, "worker-migration.abandon", node, "ok", { ...via(run), step: run.step });
  return abandonRun(ctx.db, run, run.state, `Abandoned at the "${run.step}" step.${note}`);
};

const migrationWizard = defineWizard<NodeContext, WorkerMigrationState, WorkerMigrationStep, Action>({
  kind: WORKER_MIGRATION_KIND,
  parseState: (raw) => WorkerMigrationState.parse(raw),
  parseAction: (raw) => ActionSchema.parse(raw),
  allowedOn: {
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
  },
  handlers: {
    precheck: async (ctx, run) => save(ctx, run, { state: await chooseNode(ctx, run.state, nodeOf(run)) }),
    "accept-precheck": acceptPrecheck,
    cordon,
    drain,
    "cancel-drain": cancelDrain,
    drained,
    delete: deleteNode,
    joined: (ctx, run) =>
      save(ctx, run, { step: "wait", state: addEvent({ ...run.state, waitingSince: now() }, "join", "ok", "Waiting for the replacement to register.") }),
    finish,
    abandon,
  },
  codes: { active: "migration_active", closed: "migration_closed" },
  messages: {
    noun: "migration",
    notFound: "This worker migration does not exist (any more). Open the wizard again to start a new one.",
    active: (run) => `A migration of ${run.state.node ?? "a worker"} is already in progress. Finish or abandon it first.`,
    unreadable: "The node it worked on may still be cordoned, or draining: look at it on the Nodes page.",
  },
});

/** Applies one action to a run. Throws DomainError (409 wrong step, 400 bad confirmation, Kubernetes errors). */
export function act(ctx: NodeContext, id: string, raw: unknown): Promise<Run> {
  return migrationWizard.act(ctx, id, raw);
}

/**
 * Reads the k3s join token for the join step, after an explicit reveal. Audits the reveal (never
 * the value). Throws DomainError when the run is not at the join/wait step or the file is unusable.
 */
export function revealToken(ctx: NodeContext, id: string): RevealedToken {
  const run = migrationWizard.get(ctx, id);
  if (run.status !== "active" || !["join", "wait"].includes(run.step))
    throw new DomainError("wrong_step", "The join token is only shown at the join step of an active migration.");
  const file = ctx.env.LIFEBOAT_K3S_TOKEN_FILE;
  if (!file)
    throw new DomainError(
      "no_token_file",
      "LIFEBOAT_K3S_TOKEN_FILE is not set, so the dashboard has no copy of the join token. Read it on the server: sudo cat /var/lib/rancher/k3s/server/node-token",
    );
  let token: string;
  try {
    token = readFileSync(file, "utf8").trim();
  } catch (e) {
    audit(ctx.db, "worker-migration.token.reveal", run.state.node, "failed", { runId: run.id, error: (e as NodeJS.ErrnoException).code });
    throw new DomainError(
      "token_unreadable",
      `The token file named by LIFEBOAT_K3S_TOKEN_FILE cannot be read (${(e as NodeJS.ErrnoException).code}). Fix its path or permissions.`,
    );
  }
  if (!token) throw new DomainError("token_empty", "The token file named by LIFEBOAT_K3S_TOKEN_FILE is empty.");
  audit(ctx.db, "worker-migration.token.reveal", run.state.node, "ok", { runId: run.id });
  if (!run.state.tokenRevealedAt)
    save(ctx, run, { state: addEvent({ ...run.state, tokenRevealedAt: now() }, "token", "revealed", "The join token was revealed.") });
  const info = joinInfo(
    ctx,
    (() => {
      try {
        return ctx.client().cluster.server;
      } catch {
        return null;
      }
    })(),
  );
  return { token, command: joinCommand(info.server, token) };
}
