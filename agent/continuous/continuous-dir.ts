import path from "node:path";

/**
 * The continuous-protection directory under the state dir (0700), with its spool, position, the folds'
 * scratch and a backup's offer of its set as the log's first base (base-hook.ts). A module of its own:
 * the backup job reaches it through base-hook.ts, and needs nothing else of the log's.
 */
export function continuousDir(stateDir: string): { dir: string; spool: string; position: string; compaction: string; baseOffer: string } {
  const dir = path.join(stateDir, "continuous");
  return {
    dir,
    spool: path.join(dir, "spool"),
    position: path.join(dir, "position.json"),
    compaction: path.join(dir, "compaction"),
    baseOffer: path.join(dir, "base-offer.json"),
  };
}
