import { existsSync, promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Job } from "../../lib/contracts/agent-jobs";
import { formatStamp } from "../../lib/contracts/backup-names";
import { RESTORE_STEPS, type RestoreRecord, type RestoreStepName, type StartRestoreRequest } from "../../lib/contracts/agent-restore";
import { makeStaging, removeStaging, takeSnapshot } from "../backup/snapshot";
import { AgentConfigError, readPassphrase, type AgentConfig } from "../config";
import { databaseFiles, k3sState, waitUntilReleased } from "../host/k3s-service";
import { inspectDatastoreOwnership } from "../host/ownership";
import { runCommand } from "../host/run-command";
import { stagingParent } from "./paths";
import { JobRunningError, type JobHandle } from "../jobs/job-registry";
import type { AgentDeps } from "../module";
import { diffKineDatabases } from "./diff";
import {
  type ExtraName,
  type Phase,
  PHASES,
  type RestoreJournal,
  createJournal,
  journalDir,
  listJournals,
  loadJournal,
  newRestoreId,
  pastSwapBegin,
  saveJournal,
  toRecord,
} from "./journal";
import { acquireDatastoreLock, crashPoint } from "./lock";
import { resolveSource } from "./sources";
import { stageBackup, StageError } from "./stage";
import { asidePath, completeRollbackMoves, completeSwap, fixOwnership } from "./swap";
import { verifyStaged } from "./verify";
import { checkFile } from "../sqlite/check";
import { startSqliteChecker } from "../sqlite/worker";

/**
 * A restore, step by step: stage → verify → (confirmation) → stop k3s → swap → owner and mode →
 * start k3s → check; and its rollback. Each step is recorded in the restore's journal before and
 * after it changes anything, so a restarted agent (resumeInterrupted) finishes a restore that got past
 * the start of the swap, and undoes one that did not (starting k3s again if it was stopped).
 */

/** A failure whose message is the full sentence for the user. */
export class RestoreFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RestoreFailure";
  }
}

/** The request does not fit the restore's state (e.g. confirming a finished one); HTTP 409. */
export class RestoreStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RestoreStateError";
  }
}

const STOP_WAIT_MS = 60_000;
const KEEP_DRILLS = 30;

const mb = (n: number) => `${(n / 1e6).toFixed(n < 10e6 ? 2 : 1)} MB`;
const phaseIndex = (p: Phase) => PHASES.indexOf(p);

interface Ctx {
  deps: AgentDeps;
  cfg: AgentConfig;
  j: RestoreJournal;
  job: JobHandle;
  jobSteps: Set<string>;
  log: AgentDeps["log"];
}

function stagingExists(j: RestoreJournal): boolean {
  return existsSync(path.join(j.stagingDir, "db"));
}

export function recordOf(j: RestoreJournal): RestoreRecord {
  return toRecord(j, { stagingExists: stagingExists(j) });
}

function setPhase(ctx: Ctx, phase: Phase, note?: string): void {
  ctx.j.phase = phase;
  ctx.j.history.push({ at: new Date().toISOString(), phase, note });
  saveJournal(ctx.cfg, ctx.j);
}

function beginStep(ctx: Ctx, name: RestoreStepName, detail?: string): void {
  const now = new Date().toISOString();
  for (const s of ctx.j.steps) if (s.state === "running") Object.assign(s, { state: "done", finishedAt: now });
  const s = ctx.j.steps.find((x) => x.name === name);
  if (s) Object.assign(s, { state: "running", startedAt: now, finishedAt: null, detail: detail ?? s.detail });
  if (ctx.jobSteps.has(name)) ctx.job.step(name, detail);
  saveJournal(ctx.cfg, ctx.j);
}

function stepDetail(ctx: Ctx, name: RestoreStepName, detail: string): void {
  const s = ctx.j.steps.find((x) => x.name === name);
  if (s) s.detail = detail;
  if (ctx.jobSteps.has(name)) ctx.job.detail(name, detail);
  saveJournal(ctx.cfg, ctx.j);
}

function finishSteps(ctx: Ctx, state: "done" | "failed"): void {
  const now = new Date().toISOString();
  for (const s of ctx.j.steps) if (s.state === "running") Object.assign(s, { state, finishedAt: now });
}

async function removeStagingDir(j: RestoreJournal): Promise<void> {
  await fsp.rm(j.stagingDir, { recursive: true, force: true });
}

/** Keeps the journal directory small: drills are frequent (one per new backup). */
async function pruneDrills(cfg: AgentConfig): Promise<void> {
  const drills = (await listJournals(cfg)).filter((j) => j.kind === "drill" && j.status !== "running");
  for (const j of drills.slice(KEEP_DRILLS)) await fsp.rm(journalDir(cfg, j.id), { recursive: true, force: true });
}

/** Stage and verify (the drill, and the first half of a restore). */
async function stageAndVerify(ctx: Ctx): Promise<void> {
  const { cfg, j, job } = ctx;
  beginStep(ctx, "stage");
  setPhase(ctx, "staging");
  const src = await resolveSource(ctx.deps, j.source);
  j.sourceDescription = src.description;
  j.takenAt = src.takenAt?.toISOString() ?? null;
  await fsp.mkdir(j.stagingDir, { recursive: true, mode: 0o700 });
  // The verify step's worker starts now and is ready when staging ends.
  const checker = startSqliteChecker();
  const staged = await stageBackup(src, {
    stagingDir: j.stagingDir,
    passphrase: () => readPassphrase(cfg),
    maxBytes: cfg.restoreMaxBytes,
    durable: j.kind === "restore",
    onProgress: (done, total) => {
      job.progress(done, total);
      j.bytesStaged = done;
    },
  }).catch((err: unknown) => {
    checker.dispose();
    throw err;
  });
  j.bytesStaged = staged.bytesRead;
  const dbBytes = (await fsp.stat(staged.dbPath)).size;
  stepDetail(ctx, "stage", `${mb(staged.bytesRead)} read; state.db ${mb(dbBytes)}${staged.walReplayed ? " (its WAL replayed)" : ""}${staged.tokenPath ? ", token" : ""}${staged.credDir ? ", cred/" : ""}${staged.tlsDir ? ", tls/" : ""}`);
  setPhase(ctx, "staged");
  crashPoint("staged");

  beginStep(ctx, "verify");
  setPhase(ctx, "verifying");
  const { verification, ok, failure } = await verifyStaged(staged, { hostTokenPath: cfg.tokenPath, useArchiveToken: j.include.token, checker }).finally(() => checker.dispose());
  j.verification = verification;
  if (!ok) throw new RestoreFailure(failure!);
  const extras: ExtraName[] = [];
  if (j.include.token && staged.tokenPath) extras.push("token");
  if (j.include.cred) {
    if (staged.credDir) extras.push("cred");
    else verification.warnings.push("cred/ was chosen but the backup holds none; the host's cred/ stays.");
  }
  if (j.include.tls) {
    if (staged.tlsDir) extras.push("tls");
    else verification.warnings.push("tls/ was chosen but the backup holds none; the host's tls/ stays.");
  }
  j.extras = extras;
  if (j.compareWithLive) {
    const tmp = await makeStaging(path.join(cfg.stateDir, "restores", ".compare"), j.id).catch(() => null);
    try {
      if (!tmp) throw new Error("no room for a copy");
      const snap = await takeSnapshot(cfg.dbPath, tmp);
      j.diff = diffKineDatabases(snap.path, staged.dbPath, {
        currentLabel: "live database",
        candidateLabel: j.sourceDescription,
        candidateTakenAt: src.takenAt,
        subject: "Restoring this backup",
      });
    } catch (err) {
      j.diffError = `The live database could not be read for a comparison (${(err as Error).message.replace(/\.$/, "")}), so what restoring loses is unknown.`;
    } finally {
      if (tmp) await removeStaging(tmp);
    }
  }
  const st = verification.stats;
  stepDetail(ctx, "verify", `integrity_check ok; ${st ? `revision ${st.currentRevision}, ${st.rowCount} rows` : "statistics unavailable"}; token ${verification.token.source === "archive" ? "from the backup" : "on the host"} fits`);
  setPhase(ctx, "verified");
  crashPoint("verified");
}

/** Runs the stop command and waits until nothing holds the database. Throws RestoreFailure (after restarting k3s when it was stopped but something else holds the files). */
async function stopK3s(ctx: Ctx, context: string): Promise<void> {
  const { cfg, j } = ctx;
  j.k3sStopped = true;
  saveJournal(cfg, j);
  const res = await runCommand(cfg.k3sStopCmd);
  if (res.code !== 0) {
    j.k3sStopped = false;
    throw new RestoreFailure(`The stop command \`${cfg.k3sStopCmd}\` failed (${res.timedOut ? "timed out" : `exit ${res.code}`}${res.stderr ? `: ${res.stderr.slice(0, 300)}` : ""}). ${context}`);
  }
  const holders = await waitUntilReleased(databaseFiles(cfg.dbPath), STOP_WAIT_MS);
  if (holders.length) {
    await runCommand(cfg.k3sStartCmd);
    j.k3sStopped = false;
    throw new RestoreFailure(
      `k3s was stopped, but after ${STOP_WAIT_MS / 1000} s these processes still hold the database: ${holders.map((h) => `pid ${h.pid} (${h.command})`).join(", ")}. k3s was started again. Stop them and retry. ${context}`,
    );
  }
}

async function checkAfter(cfg: AgentConfig): Promise<NonNullable<RestoreJournal["after"]>> {
  // k3s runs again: its writes may hold a lock for a moment.
  const quick = checkFile(cfg.dbPath, "quick_check", { busyTimeoutMs: 10_000 });
  const own = inspectDatastoreOwnership(cfg).filter((e) => !e.ok);
  const k3s = await k3sState(cfg.k3sStatusCmd, cfg.dbPath);
  const walOk = !existsSync(`${cfg.dbPath}-wal`) || quick.ok;
  return { quickCheck: quick, ownershipOk: own.length === 0, ownershipProblems: own.map((e) => e.problem ?? e.path), k3sState: k3s.state, noStaleWal: walOk };
}

/** stop → swap → ownership → start → check, skipping what the journal says is done. */
async function swapAndStart(ctx: Ctx): Promise<void> {
  const { cfg, j } = ctx;
  if (phaseIndex(j.phase) < phaseIndex("stopped")) {
    beginStep(ctx, "stop", cfg.k3sStopCmd);
    setPhase(ctx, "stopping");
    await stopK3s(ctx, "Nothing on the server changed; the staged backup is kept (confirm to retry, or cancel).");
    setPhase(ctx, "stopped");
    stepDetail(ctx, "stop", `\`${cfg.k3sStopCmd}\`: nothing holds the database any more`);
    crashPoint("stopped");
  }
  if (phaseIndex(j.phase) < phaseIndex("swap:begin")) {
    beginStep(ctx, "swap");
    j.swapStamp = formatStamp(new Date());
    j.asideDir = existsSync(path.join(cfg.serverDir, "db")) ? asidePath(cfg.serverDir, "db", "before-restore", j.swapStamp) : null;
    setPhase(ctx, "swap:begin", j.asideDir ? `previous db/ goes to ${j.asideDir}` : "no previous db/");
    crashPoint("swap:begin");
  }
  if (phaseIndex(j.phase) < phaseIndex("swapped")) {
    if (j.steps.find((s) => s.name === "swap")?.state !== "running") beginStep(ctx, "swap");
    const { removedStale } = completeSwap(cfg, j);
    stepDetail(
      ctx,
      "swap",
      `${j.asideDir ? `previous db/ moved to ${path.basename(j.asideDir)}` : "no previous db/"}; restored db/ in place${removedStale.length ? `; removed stale ${removedStale.map((f) => path.basename(f)).join(", ")}` : ""}${j.extras.length ? `; ${j.extras.join(", ")} restored` : ""}`,
    );
  }
  if (phaseIndex(j.phase) < phaseIndex("owned")) {
    beginStep(ctx, "ownership");
    setPhase(ctx, "ownership");
    const n = await fixOwnership(cfg, j.extras);
    stepDetail(ctx, "ownership", `${n} paths owned by ${cfg.owner.uid}:${cfg.owner.gid}, files 0600, directories 0700, fsynced`);
    setPhase(ctx, "owned");
    crashPoint("owned");
  }
  if (phaseIndex(j.phase) < phaseIndex("started")) {
    beginStep(ctx, "start", cfg.k3sStartCmd);
    setPhase(ctx, "starting");
    const res = await runCommand(cfg.k3sStartCmd);
    if (res.code !== 0)
      throw new RestoreFailure(
        `The restored database is in place, but the start command \`${cfg.k3sStartCmd}\` failed (${res.timedOut ? "timed out" : `exit ${res.code}`}${res.stderr ? `: ${res.stderr.slice(0, 300)}` : ""}). Look at k3s's log, or roll back to the previous database (${j.asideDir}).`,
      );
    j.k3sStopped = false;
    setPhase(ctx, "started");
    crashPoint("started");
  }
  beginStep(ctx, "check");
  setPhase(ctx, "checking");
  const after = await checkAfter(cfg);
  j.after = after;
  stepDetail(ctx, "check", `quick_check ${after.quickCheck.ok ? "ok" : "FAILED"}; owner and mode ${after.ownershipOk ? "ok" : "wrong"}; k3s ${after.k3sState}`);
  if (!after.quickCheck.ok) throw new RestoreFailure(`k3s was started, but the live database fails quick_check (${after.quickCheck.messages.slice(0, 2).join("; ")}). Roll back to the previous database (${j.asideDir}).`);
  if (!after.ownershipOk) throw new RestoreFailure(`The restored files do not have the expected owner and mode: ${after.ownershipProblems.join("; ")}.`);
  setPhase(ctx, "checked");
  j.status = "succeeded";
  finishSteps(ctx, "done");
  await removeStagingDir(j);
  saveJournal(cfg, j);
}

function describeError(err: unknown, j: RestoreJournal): string {
  if (err instanceof RestoreFailure || err instanceof StageError || err instanceof AgentConfigError) return (err as Error).message;
  const step = j.steps.find((s) => s.state === "running")?.label ?? j.phase;
  const msg = (err as Error)?.message ?? String(err);
  return `The restore failed at "${step}": ${msg}${/[.!?]$/.test(msg) ? "" : "."}`;
}

/** Common job wrapper: lock, run, record the outcome in the journal. */
function startJob(
  deps: AgentDeps,
  j: RestoreJournal,
  type: "restore" | "drill" | "rollback",
  stepNames: RestoreStepName[],
  body: (ctx: Ctx) => Promise<void>,
  release: () => void,
  labels: Partial<Record<RestoreStepName, string>> = {},
): { restoreId: string; jobId: string; done: Promise<Job> } {
  const cfg = deps.config;
  const log = deps.log.child({ component: "restore", restoreId: j.id });
  let started;
  try {
    started = deps.jobs.start<RestoreRecord>({
      type,
      group: "datastore",
      steps: stepNames.map((name) => ({ name, label: labels[name] ?? RESTORE_STEPS.find((s) => s.name === name)!.label })),
      run: async (job) => {
        const ctx: Ctx = { deps, cfg, j, job, jobSteps: new Set(stepNames), log };
        j.jobId = job.id;
        saveJournal(cfg, j);
        try {
          await body(ctx);
          return recordOf(j);
        } catch (err) {
          const message = describeError(err, j);
          log.error({ err: (err as Error)?.message, phase: j.phase }, "restore step failed");
          finishSteps(ctx, "failed");
          if (j.status === "rolling-back") j.error = `The rollback did not finish: ${message}`;
          else {
            j.status = "failed";
            j.error = message;
          }
          // A failure before the swap changed nothing: drop the staging unless it verified (kept for a retry).
          if (!pastSwapBegin(j.phase) && (!j.verification || j.phase === "staging" || j.phase === "verifying" || j.kind === "drill")) await removeStagingDir(j);
          saveJournal(cfg, j);
          throw new RestoreFailure(message);
        } finally {
          if (j.kind === "drill") await pruneDrills(cfg).catch(() => {});
        }
      },
      describeError: (err) => (err as Error).message,
      onFinish: (job) => {
        release();
        log.info({ jobId: job.id, state: job.state, status: j.status }, `${type} finished`);
      },
    });
  } catch (err) {
    release();
    throw err;
  }
  return { restoreId: j.id, jobId: started.id, done: started.done };
}

/**
 * POST /restores and `lifeboat-agent restore`: starts staging (and verification, and with `confirm`
 * the rest) in the background. Throws JobRunningError, DatastoreBusyError, or RestoreStateError when
 * another restore waits for confirmation or is unfinished.
 */
export async function startRestore(deps: AgentDeps, req: StartRestoreRequest): Promise<{ restoreId: string; jobId: string; done: Promise<Job> }> {
  const cfg = deps.config;
  const kind = req.dryRun ? "drill" : "restore";
  const busy = deps.jobs.runningIn("datastore");
  if (busy) throw new JobRunningError(busy, "datastore");
  if (kind === "restore") {
    const pending = (await listJournals(cfg)).find((x) => x.kind === "restore" && (x.status === "running" || x.status === "rolling-back" || x.status === "awaiting-confirmation"));
    if (pending)
      throw new RestoreStateError(
        pending.status === "awaiting-confirmation"
          ? `Restore ${pending.id} is staged and waiting for confirmation; confirm or cancel it first.`
          : `Restore ${pending.id} is not finished (${pending.phase}); the agent completes it first.`,
      );
  }
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
      stagingDir: parent === path.dirname(dir) ? path.join(dir, "staging") : path.join(parent, id),
      serverDir: cfg.serverDir,
    });
    saveJournal(cfg, j);
    const steps: RestoreStepName[] = kind === "drill" ? ["stage", "verify"] : RESTORE_STEPS.map((s) => s.name);
    return startJob(
      deps,
      j,
      kind,
      steps,
      async (ctx) => {
        await stageAndVerify(ctx);
        if (kind === "drill") {
          j.status = "succeeded";
          finishSteps(ctx, "done");
          await removeStagingDir(j);
          saveJournal(cfg, j);
          return;
        }
        if (!j.autoConfirm) {
          finishSteps(ctx, "done");
          j.status = "awaiting-confirmation";
          saveJournal(cfg, j);
          for (const s of ["stop", "swap", "ownership", "start", "check"] as const) ctx.job.skip(s, "waits for confirmation");
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

function mustLoad(cfg: AgentConfig, id: string): RestoreJournal {
  const j = loadJournal(cfg, id);
  if (!j) throw new RestoreStateError(`There is no restore ${id} on this agent.`);
  return j;
}

/** POST /restores/:id/confirm: stop → swap → ownership → start → check. Throws RestoreStateError when it cannot be confirmed. */
export function confirmRestore(deps: AgentDeps, id: string, opts: { expectHost?: string } = {}): { restoreId: string; jobId: string; done: Promise<Job> } {
  const cfg = deps.config;
  const j = mustLoad(cfg, id);
  if (opts.expectHost && opts.expectHost !== os.hostname())
    throw new RestoreStateError(`This agent runs on "${os.hostname()}", not "${opts.expectHost}": refusing to restore the wrong node.`);
  if (!recordOf(j).canConfirm) throw new RestoreStateError(`Restore ${id} cannot be confirmed now (it is ${j.status}, ${j.phase}${stagingExists(j) ? "" : ", its staged files are gone"}).`);
  const busy = deps.jobs.runningIn("datastore");
  if (busy) throw new JobRunningError(busy, "datastore");
  const release = acquireDatastoreLock(cfg);
  j.status = "running";
  j.error = null;
  j.history.push({ at: new Date().toISOString(), phase: j.phase, note: "confirmed" });
  saveJournal(cfg, j);
  return startJob(deps, j, "restore", ["stop", "swap", "ownership", "start", "check"], (ctx) => swapAndStart(ctx), release);
}

/** POST /restores/:id/cancel: drops the staged files of a restore that has not swapped anything. */
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

/** POST /restores/:id/done: the user keeps the restore; rollback is no longer offered (the moved-aside copy stays on disk). */
export function markRestoreDone(deps: AgentDeps, id: string): RestoreRecord {
  const j = mustLoad(deps.config, id);
  if (!recordOf(j).canMarkDone) throw new RestoreStateError(`Restore ${id} is ${j.status}${j.done ? " and already marked done" : ""}; only a succeeded restore can be marked done.`);
  j.done = true;
  j.history.push({ at: new Date().toISOString(), phase: j.phase, note: "marked done" });
  saveJournal(deps.config, j);
  return recordOf(j);
}

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
    await stopK3s(ctx, "Nothing was moved; the restored database is still in place.");
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
    const n = await fixOwnership(cfg, Object.keys(j.extraAsides) as ExtraName[]);
    stepDetail(ctx, "ownership", `${n} paths owned by ${cfg.owner.uid}:${cfg.owner.gid}, files 0600, directories 0700, fsynced`);
    advance("rollback:owned");
  }
  if (rb.phase === "rollback:owned") {
    beginStep(ctx, "start", cfg.k3sStartCmd);
    const res = await runCommand(cfg.k3sStartCmd);
    if (res.code !== 0) throw new RestoreFailure(`The previous database is back in place, but \`${cfg.k3sStartCmd}\` failed (exit ${res.code}${res.stderr ? `: ${res.stderr.slice(0, 300)}` : ""}). Look at k3s's log.`);
    j.k3sStopped = false;
    advance("rollback:started");
  }
  beginStep(ctx, "check");
  const after = await checkAfter(cfg);
  j.after = after;
  stepDetail(ctx, "check", `quick_check ${after.quickCheck.ok ? "ok" : "FAILED"}; owner and mode ${after.ownershipOk ? "ok" : "wrong"}; k3s ${after.k3sState}`);
  advance("rollback:checked");
  j.status = "rolled-back";
  finishSteps(ctx, "done");
  saveJournal(cfg, j);
}

/** POST /restores/:id/rollback and `lifeboat-agent rollback`. Throws RestoreStateError when there is nothing to roll back. */
export function startRollback(deps: AgentDeps, id: string): { restoreId: string; jobId: string; done: Promise<Job> } {
  const cfg = deps.config;
  const j = mustLoad(cfg, id);
  const resuming = j.status === "rolling-back";
  if (!resuming && !recordOf(j).canRollback)
    throw new RestoreStateError(
      j.done ? `Restore ${id} was marked done; its previous database is still in ${j.asideDir} if you need it.` : `Restore ${id} has nothing to roll back (it is ${j.status}, ${j.phase}).`,
    );
  const busy = deps.jobs.runningIn("datastore");
  if (busy) throw new JobRunningError(busy, "datastore");
  const release = acquireDatastoreLock(cfg);
  if (!resuming) {
    const stamp = formatStamp(new Date());
    j.rollback = { phase: "rollback:begin", stamp, restoredAside: asidePath(cfg.serverDir, "db", "rolled-back", stamp), extraRolled: {} };
    j.status = "rolling-back";
    j.error = null;
    for (const s of j.steps) if (["stop", "swap", "ownership", "start", "check"].includes(s.name)) Object.assign(s, { state: "pending", startedAt: null, finishedAt: null, detail: null });
    j.history.push({ at: new Date().toISOString(), phase: "rollback:begin" });
    saveJournal(cfg, j);
  }
  return startJob(deps, j, "rollback", ["stop", "swap", "ownership", "start", "check"], rollbackFlow, release, ROLLBACK_LABELS);
}

/**
 * Called when the agent starts (and before CLI restores): finishes or undoes restores a dead agent
 * left behind. Past the start of the swap it rolls forward (the verified backup goes in, the previous
 * database stays moved aside); before it, nothing changed, so it records the failure and starts k3s
 * again if it had been stopped. Interrupted rollbacks are finished. Resolves when all are handled.
 */
export async function resumeInterrupted(deps: AgentDeps): Promise<RestoreRecord[]> {
  const cfg = deps.config;
  const out: RestoreRecord[] = [];
  for (const j of await listJournals(cfg)) {
    if (j.status !== "running" && j.status !== "rolling-back") continue;
    let release: () => void;
    try {
      release = acquireDatastoreLock(cfg);
    } catch {
      continue; // a live process is working on it
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
      await startJob(deps, j, "restore", ["stop", "swap", "ownership", "start", "check"], (ctx) => swapAndStart(ctx), release).done;
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
        for (const s of j.steps) if (s.state === "running") Object.assign(s, { state: "failed", finishedAt: new Date().toISOString() });
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

/** GET /restores */
export async function listRestores(deps: AgentDeps): Promise<RestoreRecord[]> {
  return (await listJournals(deps.config)).map(recordOf);
}

/** GET /restores/:id; throws RestoreStateError when unknown. */
export function getRestore(deps: AgentDeps, id: string): RestoreRecord {
  return recordOf(mustLoad(deps.config, id));
}
