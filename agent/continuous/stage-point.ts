import type { AgentDeps } from "../module";
import { readPassphrase } from "../config";
import { resolveSource } from "../restore/sources";
import { stageBackup, type StageOptions, type StagedFiles } from "../restore/stage";
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
  // The log's first segments are fetched and decrypted while the base is staged.
  const log = prepareLog({
    segments: plan.segments,
    target: plan.target,
    open: (key) => deps.store().get(key),
    passphrase: readPassphrase(deps.config),
    logEnd: plan.logEnd,
    durable: opts.durable !== false,
    // A compaction running beside the restore may fold segments the plan listed: plan the same point again.
    relist: async () => (await planPoint(deps, plan.baseSetId, { toRevision: plan.target })).segments,
  });
  const src = await resolveSource(deps, { kind: "backup", setId: plan.baseSetId });
  const staged = await stageBackup(src, { ...opts, passphrase: () => readPassphrase(deps.config) });
  const applied = await log.applyTo(staged.dbPath);
  return { staged, applied };
}
