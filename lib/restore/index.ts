import "server-only";
import { readFileSync } from "node:fs";
import { configuredAgentOrNull } from "../agent/configured";
import { hasErrorCode } from "../contracts/errors";
import { isKubeError } from "../kube/errors";
import { catalogService } from "../catalog";
import { alertsAfterDrill } from "../alerts";
import { nodeContext } from "../kube/context";
import { listNodeSummaries } from "../kube/node-service";
import { logger } from "../log";
import { serverContext, singleton } from "../server/context";
import { makeAgentTargets } from "./agent-targets";
import { DrillService } from "./drill-service";
import { DrillStore } from "./drill-store";
import { activeRun, drillPauseReason, followRun, needsFollowing, type NodesPort, type RestoreContext } from "./wizard";

export { DrillService } from "./drill-service";
export { DrillStore } from "./drill-store";

/**
 * The dashboard server's restore side, wired to its database, catalog, configured agent and
 * Kubernetes API: the restore context the wizard's routes use, the drill service, and the
 * background work that keeps going without a browser (drills, and following a wizard's restore
 * after a dashboard restart). Everything starts on first use: the first page or API call.
 */

const kubeNodes: NodesPort = {
  configured() {
    try {
      nodeContext().client();
      return true;
    } catch (err) {
      // Not by class: the node context is a process-wide singleton that another route's bundle may have made.
      if (isKubeError(err, "not_configured")) return false;
      return true; // configured, but broken: the nodes check reports the error
    }
  },
  async list() {
    const nodes = await listNodeSummaries(nodeContext().client());
    return nodes.map((n) => ({ name: n.name, ready: n.ready, controlPlane: n.controlPlane }));
  },
};

/** The drill store of the current catalog source. */
function drillStore(): DrillStore {
  return singleton("restore.drillStore", () => new DrillStore(serverContext().db, catalogService().source));
}

/** The restore wizard's context (one per process). */
export function restoreContext(): RestoreContext {
  return singleton("restore.context", () => {
    const { db } = serverContext();
    const catalog = catalogService();
    return {
      db,
      targets: makeAgentTargets(db, configuredAgentOrNull, {
        allowInsecureHttp: serverContext().env.LIFEBOAT_AGENT_INSECURE_HTTP,
        ca: serverContext().env.LIFEBOAT_AGENT_CA_FILE ? readFileSync(serverContext().env.LIFEBOAT_AGENT_CA_FILE!, "utf8") : undefined,
      }),
      catalog: {
        sets: () => catalog.page({ limit: null }).sets,
        findSet: (id) => catalog.findSet(id)?.set ?? null,
        manifest: (set) => catalog.manifest(set),
      },
      drill: (setId) => drillStore().get(setId),
      nodes: kubeNodes,
      log: logger("restore"),
    };
  });
}

/** The drill service (one per process), started: it verifies new backup sets in the background. */
export function drillService(): DrillService {
  return singleton("restore.drills", () => {
    const catalog = catalogService();
    const svc = new DrillService({
      store: drillStore(),
      sets: () => catalog.view().sets,
      agent: configuredAgentOrNull,
      log: logger("drills"),
      pausedBecause: () => drillPauseReason(serverContext()),
      onFinished: alertsAfterDrill,
    });
    svc.start();
    startWizardWatcher();
    return svc;
  });
}

/**
 * Follows an active wizard run's restore on the agent every few seconds, so its outcome reaches the
 * audit log and the run moves on (e.g. to "After") even when no browser is open — also after a
 * dashboard restart, from the restore id saved in the run.
 */
function startWizardWatcher(): void {
  singleton("restore.watcher", () => {
    const log = logger("restore-watcher");
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      const ctx = restoreContext();
      const run = activeRun(ctx);
      if (!run || !needsFollowing(run)) return;
      busy = true;
      followRun(ctx, run.id)
        .catch((err: unknown) => log.warn({ err: (err as Error).message, runId: run.id }, "could not follow the wizard's restore"))
        .finally(() => {
          busy = false;
        });
    }, 3000);
    timer.unref();
    return timer;
  });
}

/** Starts the background work (idempotent); route handlers and pages call it. */
export function startRestoreBackground(): void {
  try {
    drillService();
  } catch (err) {
    if (!hasErrorCode(err, "config")) throw err;
  }
}
