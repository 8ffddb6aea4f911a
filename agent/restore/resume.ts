import type { RestoreRecord } from "../../lib/contracts/agent-restore";
import { runCommand } from "../host/run-command";
import type { AgentDeps } from "../module";
import { listJournals, loadJournal, pastSwapBegin, phaseIndex, saveJournal } from "./journal";
import { acquireDatastoreLock } from "./lock";
import { finishSteps, recordOf, removeStagingDir, stagingExists, startJob } from "./restore-job";
import { startRollback } from "./rollback";
import { SWAP_STEPS } from "./steps";
import { swapAndStart } from "./swap-and-start";

/**
 * Called when the agent starts (and before CLI restores): finishes or undoes restores a dead agent
 * left behind. Past the start of the swap it rolls forward (the verified backup goes in, the previous
 * database stays moved aside); before it, nothing changed, so it records the failure and starts k3s
 * again if it had been stopped. Interrupted rollbacks are finished. Resolves when all are handled;
 * rejects when a journal cannot be saved.
 */
export async function resumeInterrupted(deps: AgentDeps): Promise<RestoreRecord[]> {
  const cfg = deps.config;
  const out: RestoreRecord[] = [];
  for (const listed of await listJournals(cfg)) {
    if (listed.status !== "running" && listed.status !== "rolling-back") continue;
    let release: () => void;
    try {
      release = acquireDatastoreLock(cfg);
    } catch {
      continue; // a live process is working on it
    }
    // Read again under the lock: the process that held it may have finished the restore since the listing.
    const j = loadJournal(cfg, listed.id);
    if (!j || (j.status !== "running" && j.status !== "rolling-back")) {
      release();
      continue;
    }
    const log = deps.log.child({ component: "restore", restoreId: j.id });
    if (j.status === "rolling-back") {
      release();
      log.warn({ phase: j.rollback?.phase }, "finishing an interrupted rollback");
      await startRollback(deps, j.id).done;
    } else if (pastSwapBegin(j.phase)) {
      j.history.push({ at: new Date().toISOString(), phase: j.phase, note: "agent restarted: finishing the restore" });
      saveJournal(cfg, j);
      log.warn({ phase: j.phase }, "finishing an interrupted restore");
      await startJob(deps, j, "restore", SWAP_STEPS, (ctx) => swapAndStart(ctx), release).done;
    } else {
      try {
        let restarted = false;
        if (j.k3sStopped) {
          await runCommand(cfg.k3sStartCmd);
          j.k3sStopped = false;
          restarted = true;
        }
        const keep = j.kind === "restore" && j.verification !== null && phaseIndex(j.phase) >= phaseIndex("verified") && stagingExists(j);
        if (!keep) await removeStagingDir(j);
        j.status = "failed";
        j.error = `The agent stopped (killed or crashed) during "${j.phase}", before anything on the server was changed${restarted ? "; k3s was started again" : ""}. ${keep ? "The verified backup is still staged: confirm to try again, or cancel." : "Start the restore again."}`;
        finishSteps({ j }, "failed");
        j.history.push({ at: new Date().toISOString(), phase: j.phase, note: "agent restarted: nothing had changed" });
        saveJournal(cfg, j);
        log.warn({ phase: j.phase }, "an interrupted restore had changed nothing");
      } finally {
        release();
      }
    }
    out.push(recordOf(loadJournal(cfg, j.id)!));
  }
  return out;
}
