import { promises as fsp } from "node:fs";
import type { LiveStats } from "../../lib/contracts/agent-backup";
import type { AgentDeps } from "../module";
import { checkSnapshot, makeStaging, removeStaging, snapshotStagingRoot, takeSnapshot } from "./snapshot";

/**
 * Statistics of the live database without holding a read transaction on it for long: a quick
 * snapshot (the same one-transaction copy as a backup) to the staging directory, statistics and
 * integrity check on the copy, copy removed. Throws SnapshotError (missing, not SQLite, damaged...).
 */
export async function takeLiveStats(deps: AgentDeps): Promise<LiveStats> {
  const cfg = deps.config;
  const staging = await makeStaging(snapshotStagingRoot(cfg.stateDir), "stats");
  try {
    const takenAt = new Date().toISOString();
    const snap = await takeSnapshot(cfg.dbPath, staging);
    const { stats } = checkSnapshot(snap.path, cfg.dbPath);
    const db = (await fsp.stat(cfg.dbPath)).size;
    const wal = (await fsp.stat(cfg.dbPath + "-wal").catch(() => null))?.size ?? null;
    return { dbPath: cfg.dbPath, takenAt, snapshot: { method: snap.method, ms: Math.round(snap.ms), bytes: snap.bytes }, liveFiles: { db, wal }, stats };
  } finally {
    await removeStaging(staging);
  }
}
