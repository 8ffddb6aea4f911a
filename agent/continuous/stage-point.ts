import { promises as fsp } from "node:fs";
import type { AgentDeps } from "../module";
import { readPassphrase } from "../config";
import { resolveListedSet } from "../restore/sources";
import { StageError, stageBackup, type StageOptions, type StagedFiles } from "../restore/stage";
import { STAGING_RESERVE_BYTES, stagingBudget } from "../restore/stage-limits";
import { prepareLog, type ApplyResult } from "./apply";
import { planPoint, type PointPlan } from "./point-in-time";

/**
 * Stages a point in time: the plan's base set through the restore's one stager (agent/restore/stage.ts),
 * then the log applied to the staged database. Throws what stageBackup and resolveSource throw, and
 * LogDamagedError when a segment on the way is missing or damaged.
 */
export async function stagePoint(
  deps: AgentDeps,
  plan: PointPlan,
  opts: Omit<StageOptions, "passphrase">,
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
    relist: async () => (await planPoint(deps, plan.baseSetId, { toRevision: plan.target })).segments,
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
  // The log grows the staged database: within the same budget as the unpacking (LIFEBOAT_RESTORE_MAX_BYTES,
  // and the room above the reserve staging leaves for k3s), which SQLite then keeps (apply-session.ts).
  const room = await stagingBudget(opts.stagingDir, opts.maxBytes);
  const dbBytes = (await fsp.stat(staged.dbPath)).size;
  const bySpace = dbBytes + Math.max(0, room.freeBytes - STAGING_RESERVE_BYTES);
  const applied = await log.applyTo(staged.dbPath, Math.min(opts.maxBytes, bySpace)).catch((err: unknown) => {
    if (!databaseFull(err)) throw err;
    const mib = (n: number) => `${(n / 1024 ** 2).toFixed(1)} MiB`;
    throw bySpace < opts.maxBytes
      ? new StageError(
          `Applying the log grows the staged database past the room staging has on ${opts.stagingDir} (${mib(room.freeBytes)} free besides the staged ${mib(dbBytes)}, less ${mib(STAGING_RESERVE_BYTES)} staging leaves for k3s). Free space there, or point LIFEBOAT_STATE_DIR at a disk with room on the server directory's filesystem. Nothing on the server changed.`,
          "no_space",
          { cause: err },
        )
      : new StageError(
          `Applying the log grows the staged database past LIFEBOAT_RESTORE_MAX_BYTES (${mib(opts.maxBytes)}), the most a restore unpacks; refusing it. If the database really is that large at this point, raise LIFEBOAT_RESTORE_MAX_BYTES. Nothing on the server changed.`,
          "too_large",
          { cause: err },
        );
  });
  return { staged, applied };
}

/** SQLite's SQLITE_FULL ("database or disk is full"), as the apply's own error or the one a log_damaged answer wraps. */
function databaseFull(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause)
    if (/database or disk is full|SQLITE_FULL/.test(`${(e as { code?: string }).code ?? ""} ${e.message}`)) return true;
  return false;
}
