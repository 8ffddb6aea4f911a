import "server-only";
import type { Db } from "../db/database";
import { SetStatistics } from "../contracts/set-statistics";
import type { RevisionPoint } from "../backups/explain";

/**
 * The kine statistics of each backup set in the dashboard's SQLite (`set_statistics`, migration
 * 60), keyed by the catalog's source like the cached listing and the drill results. The scalar
 * columns answer the chart and the compaction history without parsing bodies; the body is the
 * whole SetStatistics (prefixes included), read for the set being explained and its baseline.
 */

/** What the chart and the compaction history need of every set. */
export interface StatisticsSummary extends RevisionPoint {
  setId: string;
  rowCount: number;
  liveKeys: number;
  compactionLag: number;
}

type SummaryRow = {
  set_id: string;
  taken_at: string;
  current_revision: number;
  compact_revision: number;
  row_count: number;
  live_keys: number;
  compaction_lag: number;
};

export class SetStatisticsStore {
  constructor(
    private readonly db: Db,
    /** The catalog's source (the store's description). */
    readonly source: string,
  ) {}

  /** The statistics of one set, or null (also when the stored body no longer parses). */
  get(setId: string): SetStatistics | null {
    const body = this.db.prepare("SELECT body FROM set_statistics WHERE source = ? AND set_id = ?").pluck().get(this.source, setId) as string | undefined;
    if (!body) return null;
    const parsed = SetStatistics.safeParse(JSON.parse(body));
    return parsed.success ? parsed.data : null;
  }

  /** Where each set's statistics came from, by set id. */
  origins(): Map<string, SetStatistics["from"]> {
    const rows = this.db.prepare("SELECT set_id, origin FROM set_statistics WHERE source = ?").all(this.source) as { set_id: string; origin: string }[];
    return new Map(rows.map((r) => [r.set_id, r.origin as SetStatistics["from"]]));
  }

  /** Scalar statistics of every set that has them, by set id. */
  summaries(): Map<string, StatisticsSummary> {
    const rows = this.db
      .prepare(
        "SELECT set_id, taken_at, current_revision, compact_revision, row_count, live_keys, compaction_lag FROM set_statistics WHERE source = ? ORDER BY taken_at",
      )
      .all(this.source) as SummaryRow[];
    return new Map(
      rows.map((r) => [
        r.set_id,
        {
          setId: r.set_id,
          takenAt: r.taken_at,
          currentRevision: r.current_revision,
          compactRevision: r.compact_revision,
          rowCount: r.row_count,
          liveKeys: r.live_keys,
          compactionLag: r.compaction_lag,
        },
      ]),
    );
  }

  /**
   * Keeps a set's statistics. A drill's replace what is there (it read the archived bytes
   * themselves, and a newer agent counts more); a manifest's only fill a gap.
   */
  save(s: SetStatistics): void {
    const conflict =
      s.from === "drill"
        ? `ON CONFLICT (source, set_id) DO UPDATE SET origin = excluded.origin, taken_at = excluded.taken_at, recorded_at = excluded.recorded_at,
             current_revision = excluded.current_revision, compact_revision = excluded.compact_revision, row_count = excluded.row_count,
             live_keys = excluded.live_keys, compaction_lag = excluded.compaction_lag, body = excluded.body`
        : "ON CONFLICT (source, set_id) DO NOTHING";
    this.db
      .prepare(
        `INSERT INTO set_statistics (source, set_id, origin, taken_at, recorded_at, current_revision, compact_revision, row_count, live_keys, compaction_lag, body)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ${conflict}`,
      )
      .run(
        this.source,
        s.setId,
        s.from,
        s.takenAt,
        s.recordedAt,
        s.currentRevision,
        s.compactRevision,
        s.rowCount,
        s.liveKeys,
        s.compactionLag,
        JSON.stringify(s),
      );
  }
}
