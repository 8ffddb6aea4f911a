import { parseSetId } from "../contracts/backup-names";
import type { KeyPrefixStat, KineStats } from "../contracts/manifest";
import type { SetStatistics } from "../contracts/set-statistics";

/**
 * One shape for the statistics of a set, whichever way they were read (pure). A manifest and a
 * restore drill both carry the agent's KineStats; agents before issue 14 only listed the ten
 * largest prefixes by rows and by bytes, so those sets keep the union of both lists and say the
 * list is incomplete.
 */
export function setStatisticsFrom(stats: KineStats, meta: { setId: string; from: SetStatistics["from"]; takenAt: string; recordedAt: string }): SetStatistics {
  let prefixes: KeyPrefixStat[];
  let prefixesComplete: boolean;
  if (stats.prefixes) {
    prefixes = stats.prefixes;
    prefixesComplete = true;
  } else {
    const union = new Map<string, KeyPrefixStat>();
    for (const p of [...stats.topPrefixesByRows, ...stats.topPrefixesByBytes]) union.set(p.prefix, p);
    prefixes = [...union.values()].sort((a, b) => b.rows - a.rows || a.prefix.localeCompare(b.prefix));
    prefixesComplete = false;
  }
  return {
    setId: meta.setId,
    from: meta.from,
    takenAt: meta.takenAt,
    recordedAt: meta.recordedAt,
    fileSize: stats.fileSize,
    pageSize: stats.pageSize,
    pageCount: stats.pageCount,
    freelistCount: stats.freelistCount,
    rowCount: stats.rowCount,
    liveKeys: stats.liveKeys,
    currentRevision: stats.currentRevision,
    compactRevision: stats.compactRevision,
    compactionLag: stats.compactionLag,
    deadRows: stats.uncompactedRows,
    prefixes,
    prefixesComplete,
    subPrefixes: stats.subPrefixes ?? [],
    compactRevisionWrittenAt: stats.compactRevisionWrittenAt ?? null,
  };
}

/** The statistics a restore drill of `setId` read, recorded at `recordedAt` (the set's time comes from its id). */
export function statisticsFromDrill(setId: string, stats: KineStats, recordedAt: string): SetStatistics {
  const takenAt = parseSetId(setId)?.time.toISOString() ?? recordedAt;
  return setStatisticsFrom(stats, { setId, from: "drill", takenAt, recordedAt });
}

/** How one key prefix changed between two sets. `liveKeysDelta` is null when either side did not count live keys. */
export interface PrefixDelta {
  prefix: string;
  rows: number;
  bytes: number;
  liveKeys: number | null;
  rowsDelta: number;
  bytesDelta: number;
  liveKeysDelta: number | null;
}

/**
 * Per-prefix changes from `before` to `after`. A prefix missing on one side counts as zero there
 * only when that side's list is complete; otherwise its change is unknown and it is left out.
 */
export function prefixDeltas(before: SetStatistics, after: SetStatistics): PrefixDelta[] {
  const a = new Map(before.prefixes.map((p) => [p.prefix, p]));
  const b = new Map(after.prefixes.map((p) => [p.prefix, p]));
  const out: PrefixDelta[] = [];
  for (const prefix of new Set([...a.keys(), ...b.keys()])) {
    const was = a.get(prefix) ?? (before.prefixesComplete ? { prefix, rows: 0, bytes: 0, liveKeys: 0 } : null);
    const now = b.get(prefix) ?? (after.prefixesComplete ? { prefix, rows: 0, bytes: 0, liveKeys: 0 } : null);
    if (!was || !now) continue;
    const live = was.liveKeys !== undefined && now.liveKeys !== undefined ? now.liveKeys - was.liveKeys : null;
    out.push({
      prefix,
      rows: now.rows,
      bytes: now.bytes,
      liveKeys: now.liveKeys ?? null,
      rowsDelta: now.rows - was.rows,
      bytesDelta: now.bytes - was.bytes,
      liveKeysDelta: live,
    });
  }
  return out.sort((x, y) => y.bytesDelta - x.bytesDelta || y.rowsDelta - x.rowsDelta || x.prefix.localeCompare(y.prefix));
}
