import { readdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { parseSegmentKey } from "../../lib/contracts/continuous";
import type { AgentDeps } from "../module";
import { readPassphrase } from "../config";
import { resolveListedSet } from "../restore/sources";
import { stageBackup, type StageOptions, type StagedFiles } from "../restore/stage";
import { roomAboveReserve, stagingBudget } from "../restore/stage-limits";
import { LogDamagedError, prepareLog, type ApplyResult } from "./apply";
import { planPoint, type PointPlan } from "./point-in-time";

/**
 * Stages a point in time: the plan's base set through the restore's one stager (agent/restore/stage.ts),
 * then the log applied to the staged database. Throws what stageBackup and resolveSource throw, and
 * LogDamagedError when a segment on the way is missing or damaged (a damaged checkpoint: staged again
 * from its segments instead).
 */
export async function stagePoint(
  deps: AgentDeps,
  plan: PointPlan,
  opts: Omit<StageOptions, "passphrase">,
): Promise<{ staged: StagedFiles; applied: ApplyResult }> {
  try {
    return await stageOnce(deps, plan, opts);
  } catch (err) {
    // A checkpoint is only a shortcut: one that cannot be read or is damaged leaves its segments, which
    // give the same database. The staging starts again without checkpoints.
    const key = err instanceof LogDamagedError ? (err.details as { segment?: string | null } | undefined)?.segment : null;
    if (!key || !parseSegmentKey(key)?.checkpoint) throw err;
    deps.log.warn({ component: "restore", checkpoint: key, err: (err as Error).message }, "log checkpoint unusable: restoring from its segments");
    for (const name of readdirSync(opts.stagingDir)) rmSync(path.join(opts.stagingDir, name), { recursive: true, force: true });
    const raw = { checkpoints: false };
    return stageOnce(deps, await planPoint(deps, plan.baseSetId, { toRevision: plan.target }, raw), opts, raw);
  }
}

async function stageOnce(
  deps: AgentDeps,
  plan: PointPlan,
  opts: Omit<StageOptions, "passphrase">,
  /** How the log is planned again if an object goes missing meanwhile: as this plan was (without checkpoints after a damaged one). */
  planning: { checkpoints?: boolean } = {},
): Promise<{ staged: StagedFiles; applied: ApplyResult }> {
  // The log's first objects are asked for now (a remote store's round trips then overlap the base's
  // manifest and download), and decrypted from the base's first bytes on: their keys are then asked for
  // after the base's (derivations take turns, see openpgp-native.ts), so the base's decompression starts
  // sooner and the log's hashing fills its wait.
  let baseStarted!: () => void;
  const started = new Promise<void>((resolve) => (baseStarted = resolve));
  const log = prepareLog({
    segments: plan.segments,
    target: plan.target,
    open: (key) => deps.store().get(key),
    passphrase: readPassphrase(deps.config),
    logEnd: plan.logEnd,
    durable: opts.durable !== false,
    // A compaction running beside the restore may fold segments the plan listed: plan the same point again.
    relist: async () => (await planPoint(deps, plan.baseSetId, { toRevision: plan.target }, planning)).segments,
    startAfter: started,
    // The log's trailing run of objects is applied to a scratch database meanwhile (apply-ahead.ts).
    baseRevision: plan.baseRevision,
  });
  // (A base that fails to resolve or stage decodes no log: applyTo is then never called.)
  const staging = resolveListedSet(deps, plan.baseSet).then((src) =>
    stageBackup(src, {
      ...opts,
      passphrase: () => readPassphrase(deps.config),
      onProgress: (done, total) => {
        baseStarted();
        opts.onProgress?.(done, total);
      },
    }),
  );
  void staging.then(
    () => baseStarted(),
    () => {},
  );
  const staged = await staging.catch(async (err: unknown) => {
    await log.dispose();
    throw err;
  });
  // The log grows the staged database: within the room its disk has above the reserve staging leaves
  // for k3s, which SQLite then keeps (apply-session.ts). Not LIFEBOAT_RESTORE_MAX_BYTES: a day's
  // uncompacted log grows the database far past what the restore's compaction then leaves of it.
  const room = await stagingBudget(opts.stagingDir, opts.maxBytes);
  const applied = await log.applyTo(staged.dbPath, stagingRoom(statSync(staged.dbPath).size, room.freeBytes));
  return { staged, applied };
}

/** The most a staged database of `dbBytes` may grow to on a disk with `freeBytes` free: all of that but the reserve for k3s. */
export function stagingRoom(dbBytes: number, freeBytes: number): number {
  return dbBytes + roomAboveReserve(freeBytes);
}
