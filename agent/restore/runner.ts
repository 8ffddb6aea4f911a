import { DomainError } from "../../lib/contracts/errors";
import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { RestoreRecord, StartRestoreRequest } from "../../lib/contracts/agent-restore";
import { JobRunningError } from "../jobs/job-registry";
import type { AgentDeps } from "../module";
import { RestoreStateError } from "./errors";
import { createJournal, journalDir, listJournals, newRestoreId, pastSwapBegin, saveJournal, type RestoreJournal } from "./journal";
import { acquireDatastoreLock } from "./lock";
import { stagingParent } from "./paths";
import { type StartedRestoreJob, finishSteps, mustLoad, recordOf, removeStagingDir, stagingExists, startJob, succeed } from "./restore-job";
import { stageAndVerify } from "./stage-and-verify";
import { SWAP_STEPS, stepsOf } from "./steps";
import { swapAndStart } from "./swap-and-start";

/**
 * What the restore endpoints and CLI commands call. A restore, step by step: stage → verify
 * (stage-and-verify.ts) → confirmation → stop k3s → swap → owner and mode → start k3s → check
 * (swap-and-start.ts); its rollback (rollback.ts); finishing what a dead agent left behind
 * (resume.ts). Each runs as a job recorded in the restore's journal (restore-job.ts, journal.ts).
 */

export { resumeInterrupted } from "./resume";
export { startRollback } from "./rollback";

/** Refuses when another datastore job runs. Throws JobRunningError. */
function refuseWhileBusy(deps: AgentDeps): void {
  const busy = deps.jobs.runningIn("datastore");
  if (busy) throw new JobRunningError(busy, "datastore");
}

/**
 * POST /restores and `lifeboat-agent restore`: starts staging (and verification, and with `confirm`
 * the rest) in the background. Throws JobRunningError, DatastoreBusyError, or RestoreStateError when
 * another restore waits for confirmation or is unfinished.
 */
export async function startRestore(deps: AgentDeps, req: StartRestoreRequest): Promise<StartedRestoreJob> {
  const cfg = deps.config;
  const kind = req.dryRun ? "drill" : "restore";
  refuseWhileBusy(deps);
  if (kind === "restore") {
    const pending = (await listJournals(cfg)).find(
      (x) => x.kind === "restore" && (x.status === "running" || x.status === "rolling-back" || x.status === "awaiting-confirmation"),
    );
    if (pending)
      throw new RestoreStateError(
        pending.status === "awaiting-confirmation"
          ? `Restore ${pending.id} is staged and waiting for confirmation; confirm or cancel it first.`
          : `Restore ${pending.id} is not finished (${pending.phase}); the agent completes it first.`,
      );
  }
  if ((req.toRevision !== undefined || req.toTime !== undefined) && !pointFits(req))
    throw new DomainError(
      "bad_request",
      req.toRevision !== undefined && req.toTime !== undefined
        ? "Give --to-revision or --to-time, not both."
        : "A point in time (--to-revision, --to-time) restores a backup set (or latest) brought forward with the log; it does not apply to objects, files or recoveries.",
    );
  const release = acquireDatastoreLock(cfg);
  try {
    // A new restore supersedes failed ones whose verified backup was kept staged for a retry.
    for (const old of await listJournals(cfg)) {
      if (old.kind === "restore" && old.status === "failed" && !pastSwapBegin(old.phase) && stagingExists(old)) {
        await removeStagingDir(old);
        old.history.push({ at: new Date().toISOString(), phase: old.phase, note: "staged files dropped: a new restore started" });
        saveJournal(cfg, old);
      }
    }
    const id = newRestoreId();
    const parent = await stagingParent(cfg);
    const dir = journalDir(cfg, id);
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    const j = createJournal({
      id,
      kind,
      source: req.source,
      sourceDescription: describeSource(req.source),
      takenAt: null,
      include: req.include,
      autoConfirm: req.confirm,
      compareWithLive: req.compareWithLive,
      point:
        req.toRevision !== undefined || req.toTime !== undefined
          ? {
              toRevision: req.toRevision ?? null,
              toTime: req.toTime ?? null,
              generation: null,
              baseSetId: null,
              revision: null,
              readAt: null,
              segmentsApplied: 0,
            }
          : null,
      stagingDir: parent === path.dirname(dir) ? path.join(dir, "staging") : path.join(parent, id),
      serverDir: cfg.serverDir,
    });
    saveJournal(cfg, j);
    return startJob(
      deps,
      j,
      kind,
      stepsOf(kind),
      async (ctx) => {
        await stageAndVerify(ctx);
        if (kind === "drill") return succeed(ctx);
        if (!j.autoConfirm) {
          finishSteps(ctx, "done");
          j.status = "awaiting-confirmation";
          saveJournal(cfg, j);
          for (const s of SWAP_STEPS) ctx.job.skip(s, "waits for confirmation");
          return;
        }
        await swapAndStart(ctx);
      },
      release,
    );
  } catch (err) {
    release();
    throw err;
  }
}

/** A point in time fits one of toRevision/toTime with a backup source. */
function pointFits(req: StartRestoreRequest): boolean {
  return req.source.kind === "backup" && (req.toRevision === undefined) !== (req.toTime === undefined);
}

/** The source in words, until staging names the exact object. */
function describeSource(src: StartRestoreRequest["source"]): string {
  switch (src.kind) {
    case "backup":
      return `backup set ${src.setId}`;
    case "object":
      return `object ${src.key}`;
    case "recovery":
      return `recovery ${src.id}`;
    case "file":
      return `file ${src.path}`;
  }
}

/**
 * POST /restores/:id/confirm: stop → swap → ownership → start → check. Throws RestoreNotFoundError,
 * RestoreStateError when it cannot be confirmed, JobRunningError or DatastoreBusyError.
 */
export function confirmRestore(deps: AgentDeps, id: string, opts: { expectHost?: string } = {}): StartedRestoreJob {
  const cfg = deps.config;
  const j = mustLoad(cfg, id);
  if (opts.expectHost && opts.expectHost !== os.hostname())
    throw new RestoreStateError(`This agent runs on "${os.hostname()}", not "${opts.expectHost}": refusing to restore the wrong node.`);
  if (!recordOf(j).canConfirm)
    throw new RestoreStateError(
      `Restore ${id} cannot be confirmed now (it is ${j.status}, ${j.phase}${stagingExists(j) ? "" : ", its staged files are gone"}).`,
    );
  refuseWhileBusy(deps);
  const release = acquireDatastoreLock(cfg);
  j.status = "running";
  j.error = null;
  j.history.push({ at: new Date().toISOString(), phase: j.phase, note: "confirmed" });
  saveJournal(cfg, j);
  return startJob(deps, j, "restore", SWAP_STEPS, (ctx) => swapAndStart(ctx), release);
}

/** POST /restores/:id/cancel: drops the staged files of a restore that has not swapped anything. Throws RestoreNotFoundError, RestoreStateError or DatastoreBusyError. */
export async function cancelRestore(deps: AgentDeps, id: string): Promise<RestoreRecord> {
  const cfg = deps.config;
  const j = mustLoad(cfg, id);
  if (!recordOf(j).canCancel) throw new RestoreStateError(`Restore ${id} cannot be cancelled now (it is ${j.status}, ${j.phase}).`);
  const release = acquireDatastoreLock(cfg);
  try {
    await removeStagingDir(j);
    j.status = "cancelled";
    j.history.push({ at: new Date().toISOString(), phase: j.phase, note: "cancelled" });
    saveJournal(cfg, j);
    return recordOf(j);
  } finally {
    release();
  }
}

/** POST /restores/:id/done: the user keeps the restore; rollback is no longer offered (the moved-aside copy stays on disk). Throws RestoreNotFoundError or RestoreStateError. */
export function markRestoreDone(deps: AgentDeps, id: string): RestoreRecord {
  const j = mustLoad(deps.config, id);
  if (!recordOf(j).canMarkDone)
    throw new RestoreStateError(`Restore ${id} is ${j.status}${j.done ? " and already marked done" : ""}; only a succeeded restore can be marked done.`);
  j.done = true;
  j.history.push({ at: new Date().toISOString(), phase: j.phase, note: "marked done" });
  saveJournal(deps.config, j);
  return recordOf(j);
}

/** GET /restores */
export async function listRestores(deps: AgentDeps): Promise<RestoreRecord[]> {
  return (await listJournals(deps.config)).map((j) => answeredRecord(deps, j));
}

/** GET /restores/:id. Throws RestoreNotFoundError. */
export function getRestore(deps: AgentDeps, id: string): RestoreRecord {
  return answeredRecord(deps, mustLoad(deps.config, id));
}

/**
 * A journal's record as clients see it. The journal says how a job ended a moment before the job
 * lets go of the datastore (a drill still prunes old drills; then the lock is released): until then
 * the record says "running", with nothing to confirm, cancel or roll back, so a client that starts the
 * next job as soon as this one ends (the dashboard's drill queue, the wizard's confirm) is not refused
 * as busy. On a loaded machine the drill queue met that refusal and waited its 15 s back-off.
 */
function answeredRecord(deps: AgentDeps, j: RestoreJournal): RestoreRecord {
  const rec = recordOf(j);
  if (rec.status === "running" || rec.status === "rolling-back" || !j.jobId || deps.jobs.runningIn("datastore") !== j.jobId) return rec;
  return { ...rec, status: "running", canConfirm: false, canCancel: false, canRollback: false, canMarkDone: false };
}
