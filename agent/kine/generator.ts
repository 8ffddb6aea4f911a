import { statSync } from "node:fs";
import { openKineDb } from "./schema";
import { KineSimulator } from "./simulator";

export interface GenerateOptions {
  /** Stop once the database file (after checkpoint) reaches this many bytes. */
  targetBytes: number;
  nodes?: number;
  seed?: number;
  token?: string;
  /**
   * "healthy": kine compacts every 150 ticks (~5 min), keeping 1000 revisions. A compacted database
   *   stops growing (freed pages are reused): when the target lies above that plateau, generation
   *   ends there, smaller than asked.
   * "stuck": compaction stopped (k3s#10619): every version stays, the file keeps growing.
   * "stuck-after-healthy": healthy until half the target or until compaction holds the size steady,
   *   then stuck (compaction lag climbs).
   */
  compaction?: "healthy" | "stuck" | "stuck-after-healthy";
  /** Leave the database in WAL mode (like a live k3s) instead of checkpointing it to delete mode. */
  keepWal?: boolean;
}

export interface GeneratedDb {
  path: string;
  token: string;
  rows: number;
  currentRevision: number;
  bytes: number;
}

/**
 * Generates a realistic kine database at `file` (created if missing, extended if present) by
 * simulating a k3s cluster's writes until the file reaches `targetBytes`.
 */
export function generateKineDb(file: string, opts: GenerateOptions): GeneratedDb {
  const db = openKineDb(file);
  try {
    const sim = new KineSimulator(db, { nodes: opts.nodes, seed: opts.seed, token: opts.token });
    db.transaction(() => sim.seed())();
    const mode = opts.compaction ?? "healthy";
    const size = () => (db.pragma("page_count", { simple: true }) as number) * (db.pragma("page_size", { simple: true }) as number);
    const halfway = opts.targetBytes / 2;
    let healthyPhase = mode !== "stuck";
    // Rounds in a row the file did not grow: compaction holds it steady (it never shrinks the file).
    let steadyRounds = 0;
    let lastSize = size();
    while (size() < opts.targetBytes) {
      db.transaction(() => {
        for (let i = 0; i < 150; i++) sim.tick();
      })();
      if (healthyPhase) sim.compact();
      const now = size();
      steadyRounds = now > lastSize ? 0 : steadyRounds + 1;
      lastSize = now;
      if (mode === "stuck-after-healthy" && healthyPhase && (now >= halfway || steadyRounds >= 10)) healthyPhase = false;
      if (mode === "healthy" && steadyRounds >= 30) break;
    }
    db.pragma("wal_checkpoint(TRUNCATE)");
    if (!opts.keepWal) db.pragma("journal_mode = DELETE");
    const rows = db.prepare("SELECT COUNT(*) FROM kine").pluck().get() as number;
    return { path: file, token: sim.token, rows, currentRevision: sim.currentRevision(), bytes: statSync(file).size };
  } finally {
    db.close();
  }
}
