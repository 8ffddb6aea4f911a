import { existsSync } from "node:fs";
import path from "node:path";
import { formatStamp } from "../../lib/contracts/backup-names";
import type { AgentConfig } from "../config";
import { databaseFiles, k3sState, waitUntilReleased, type Holder } from "../host/k3s-service";
import { inspectDatastoreOwnership } from "../host/ownership";
import { describeFailure, runCommand } from "../host/run-command";
import { runOffThread } from "../sqlite/worker";
import { RestoreFailure } from "./errors";
import { type RestoreJournal, phaseIndex, saveJournal } from "./journal";
import { crashPoint } from "./lock";
import { type Ctx, beginStep, setPhase, stepDetail, succeed } from "./restore-job";
import { asidePath, completeSwap, fixOwnership } from "./swap";

/**
 * The second half of a restore, after its confirmation: stop k3s → swap → owner and mode → start
 * k3s → check. Each step is recorded in the journal before and after it changes anything, and a
 * step the journal says is done is skipped, so a restarted agent finishes a restore that got past
 * the start of the swap (resume.ts). The rollback (rollback.ts) reuses stopK3s and checkAfter.
 */

const describeHolders = (hs: Holder[]) => hs.map((h) => `${h.name} (pid ${h.pid})`).join(", ");

/**
 * Runs the stop command and waits (LIFEBOAT_K3S_STOP_WAIT_SECONDS) until nothing holds the database:
 * `systemctl stop` can return while k3s's datastore writer is still closing it. Resolves with the
 * stop step's detail. Throws RestoreFailure ending with `context` (after starting k3s again when it
 * stopped but something else still holds the files).
 */
export async function stopK3s(ctx: Ctx, context: string): Promise<string> {
  const { cfg, j } = ctx;
  j.k3sStopped = true;
  saveJournal(cfg, j);
  // The stop command (up to its own time limit) and the wait for the files (LIFEBOAT_K3S_STOP_WAIT_SECONDS)
  // are the job at work, however long systemd takes: without this a slow stop read as a stall.
  const busy = setInterval(() => ctx.job.touch(), 1000);
  try {
    return await stopAndWait(ctx, context);
  } finally {
    clearInterval(busy);
  }
}

async function stopAndWait(ctx: Ctx, context: string): Promise<string> {
  const { cfg, j } = ctx;
  const res = await runCommand(cfg.k3sStopCmd);
  if (res.code !== 0) {
    j.k3sStopped = false;
    throw new RestoreFailure(`The stop command \`${cfg.k3sStopCmd}\` failed (${describeFailure(res)}). ${context}`);
  }
  const wait = await waitUntilReleased(databaseFiles(cfg.dbPath), cfg.k3sStopWaitMs);
  if (wait.holders.length) {
    await runCommand(cfg.k3sStartCmd);
    j.k3sStopped = false;
    throw new RestoreFailure(
      `k3s was stopped, but after ${Math.round(wait.waitedMs / 1000)} s these processes still hold the database: ${describeHolders(wait.holders)}. k3s was started again. Stop them and retry (or give them longer with LIFEBOAT_K3S_STOP_WAIT_SECONDS). ${context}`,
    );
  }
  const waited = wait.firstHolders.length ? ` (waited ${(wait.waitedMs / 1000).toFixed(1)} s for ${describeHolders(wait.firstHolders)} to let go of it)` : "";
  return `\`${cfg.k3sStopCmd}\`: nothing holds the database any more${waited}`;
}

/** The check step: quick_check of the live database, its owner and mode, k3s's state. Never throws. */
export async function checkAfter(cfg: AgentConfig): Promise<NonNullable<RestoreJournal["after"]>> {
  // k3s runs again: its writes may hold a lock for a moment.
  const quick = await runOffThread({ kind: "check", file: cfg.dbPath, pragma: "quick_check", limit: 20, busyTimeoutMs: 10_000 }).catch((err: unknown) => ({
    ok: false,
    messages: [(err as Error).message],
  }));
  const own = inspectDatastoreOwnership(cfg).filter((e) => !e.ok);
  const k3s = await k3sState(cfg.k3sStatusCmd, cfg.dbPath);
  const walOk = !existsSync(`${cfg.dbPath}-wal`) || quick.ok;
  return { quickCheck: quick, ownershipOk: own.length === 0, ownershipProblems: own.map((e) => e.problem ?? e.path), k3sState: k3s.state, noStaleWal: walOk };
}

/** The check step's detail line. */
export function describeAfter(after: NonNullable<RestoreJournal["after"]>): string {
  return `quick_check ${after.quickCheck.ok ? "ok" : "FAILED"}; owner and mode ${after.ownershipOk ? "ok" : "wrong"}; k3s ${after.k3sState}`;
}

/** The ownership step's detail line. */
export function describeOwnership(cfg: AgentConfig, paths: number): string {
  return `${paths} paths owned by ${cfg.owner.uid}:${cfg.owner.gid}, files 0600, directories 0700, fsynced`;
}

/** stop → swap → ownership → start → check, skipping what the journal says is done. Throws RestoreFailure. */
export async function swapAndStart(ctx: Ctx): Promise<void> {
  const { cfg, j } = ctx;
  if (phaseIndex(j.phase) < phaseIndex("stopped")) {
    beginStep(ctx, "stop", cfg.k3sStopCmd);
    setPhase(ctx, "stopping");
    const detail = await stopK3s(ctx, "Nothing on the server changed; the staged backup is kept (confirm to retry, or cancel).");
    setPhase(ctx, "stopped");
    stepDetail(ctx, "stop", detail);
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
    stepDetail(ctx, "ownership", describeOwnership(cfg, await fixOwnership(cfg, j.extras)));
    setPhase(ctx, "owned");
    crashPoint("owned");
  }
  if (phaseIndex(j.phase) < phaseIndex("started")) {
    beginStep(ctx, "start", cfg.k3sStartCmd);
    setPhase(ctx, "starting");
    const res = await runCommand(cfg.k3sStartCmd);
    if (res.code !== 0)
      throw new RestoreFailure(
        `The restored database is in place, but the start command \`${cfg.k3sStartCmd}\` failed (${describeFailure(res)}). Look at k3s's log, or roll back to the previous database (${j.asideDir}).`,
      );
    j.k3sStopped = false;
    setPhase(ctx, "started");
    crashPoint("started");
  }
  beginStep(ctx, "check");
  setPhase(ctx, "checking");
  const after = await checkAfter(cfg);
  j.after = after;
  stepDetail(ctx, "check", describeAfter(after));
  if (!after.quickCheck.ok)
    throw new RestoreFailure(
      `k3s was started, but the live database fails quick_check (${after.quickCheck.messages.slice(0, 2).join("; ")}). Roll back to the previous database (${j.asideDir}).`,
    );
  if (!after.ownershipOk) throw new RestoreFailure(`The restored files do not have the expected owner and mode: ${after.ownershipProblems.join("; ")}.`);
  setPhase(ctx, "checked");
  await succeed(ctx);
}
