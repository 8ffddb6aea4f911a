import path from "node:path";
import type { RestoreStepName } from "../../lib/contracts/agent-restore";
import { formatStamp } from "../../lib/contracts/backup-names";
import { describeFailure, runCommand } from "../host/run-command";
import { JobRunningError } from "../jobs/job-registry";
import type { AgentDeps } from "../module";
import { RestoreFailure, RestoreStateError } from "./errors";
import { type ExtraName, saveJournal } from "./journal";
import { acquireDatastoreLock, crashPoint } from "./lock";
import { type Ctx, type StartedRestoreJob, beginStep, finishSteps, mustLoad, recordOf, startJob, stepDetail } from "./restore-job";
import { SWAP_STEPS } from "./steps";
import { asidePath, completeRollbackMoves, fixOwnership } from "./swap";
import { checkAfter, describeAfter, describeOwnership, stopK3s } from "./swap-and-start";

/**
 * Undoing a restore: stop k3s → put the previous database (and token, cred/, tls/) back, keeping the
 * restored one aside → owner and mode → start k3s → check. Its own phases in the journal
 * (`rollback.phase`), so an interrupted rollback is finished when the agent restarts.
 */

const ROLLBACK_LABELS: Partial<Record<RestoreStepName, string>> = { swap: "Put the previous database back" };

async function rollbackFlow(ctx: Ctx): Promise<void> {
  const { cfg, j } = ctx;
  const rb = j.rollback!;
  const advance = (phase: typeof rb.phase) => {
    rb.phase = phase;
    j.history.push({ at: new Date().toISOString(), phase });
    saveJournal(cfg, j);
  };
  if (rb.phase === "rollback:begin") {
    beginStep(ctx, "stop", cfg.k3sStopCmd);
    stepDetail(ctx, "stop", await stopK3s(ctx, "Nothing was moved; the restored database is still in place."));
    advance("rollback:stopped");
    crashPoint("rollback:stopped");
  }
  if (rb.phase === "rollback:stopped") {
    beginStep(ctx, "swap");
    completeRollbackMoves(cfg, j);
    stepDetail(ctx, "swap", `previous database back in db/; the restored one kept in ${path.basename(rb.restoredAside)}`);
    advance("rollback:moved");
    crashPoint("rollback:moved");
  }
  if (rb.phase === "rollback:moved") {
    beginStep(ctx, "ownership");
    stepDetail(ctx, "ownership", describeOwnership(cfg, await fixOwnership(cfg, Object.keys(j.extraAsides) as ExtraName[])));
    advance("rollback:owned");
  }
  if (rb.phase === "rollback:owned") {
    beginStep(ctx, "start", cfg.k3sStartCmd);
    const res = await runCommand(cfg.k3sStartCmd);
    if (res.code !== 0)
      throw new RestoreFailure(`The previous database is back in place, but \`${cfg.k3sStartCmd}\` failed (${describeFailure(res)}). Look at k3s's log.`);
    j.k3sStopped = false;
    advance("rollback:started");
  }
  beginStep(ctx, "check");
  const after = await checkAfter(cfg);
  j.after = after;
  stepDetail(ctx, "check", describeAfter(after));
  advance("rollback:checked");
  j.status = "rolled-back";
  finishSteps(ctx, "done");
  saveJournal(cfg, j);
}

/**
 * POST /restores/:id/rollback and `lifeboat-agent rollback`; also finishes an interrupted rollback.
 * Throws RestoreNotFoundError, RestoreStateError when there is nothing to roll back, JobRunningError
 * or DatastoreBusyError.
 */
export function startRollback(deps: AgentDeps, id: string): StartedRestoreJob {
  const cfg = deps.config;
  const j = mustLoad(cfg, id);
  const resuming = j.status === "rolling-back";
  if (!resuming && !recordOf(j).canRollback)
    throw new RestoreStateError(
      j.done
        ? `Restore ${id} was marked done; its previous database is still in ${j.asideDir} if you need it.`
        : `Restore ${id} has nothing to roll back (it is ${j.status}, ${j.phase}).`,
    );
  const busy = deps.jobs.runningIn("datastore");
  if (busy) throw new JobRunningError(busy, "datastore");
  const release = acquireDatastoreLock(cfg);
  if (!resuming) {
    const stamp = formatStamp(new Date());
    j.rollback = { phase: "rollback:begin", stamp, restoredAside: asidePath(cfg.serverDir, "db", "rolled-back", stamp), extraRolled: {} };
    j.status = "rolling-back";
    j.error = null;
    for (const s of j.steps)
      if ((SWAP_STEPS as readonly string[]).includes(s.name)) Object.assign(s, { state: "pending", startedAt: null, finishedAt: null, detail: null });
    j.history.push({ at: new Date().toISOString(), phase: "rollback:begin" });
    saveJournal(cfg, j);
  }
  return startJob(deps, j, "rollback", SWAP_STEPS, rollbackFlow, release, ROLLBACK_LABELS);
}
