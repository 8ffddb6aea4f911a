import type { KineStats } from "../../contracts/manifest";

/**
 * KineStats as an agent before statistics per set wrote them (only the ten largest prefixes by rows
 * and by bytes, no live keys per prefix): a healthy kine of ~1 MB, for tests of what reads them.
 */
export function kineStatsBeforeIssue14(o: Partial<KineStats> = {}): KineStats {
  return {
    fileSize: 1_200_000,
    pageSize: 4096,
    pageCount: 293,
    freelistCount: 0,
    rowCount: 1_010,
    currentRevision: 11_679,
    compactRevision: 10_679,
    compactionLag: 1_000,
    uncompactedRows: 800,
    liveKeys: 217,
    topPrefixesByRows: [{ prefix: "/registry/leases", rows: 600, bytes: 420_000 }],
    topPrefixesByBytes: [{ prefix: "/registry/events", rows: 400, bytes: 380_000 }],
    ...o,
  };
}
