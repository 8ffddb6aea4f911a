import { statSync } from "node:fs";
import type Database from "better-sqlite3";
import type { KineStats, KeyPrefixStat } from "../../lib/contracts/manifest";

/**
 * The first two path segments of a kine key (`/registry/leases/kube-system/x` → `/registry/leases`);
 * `gap-<rev>` keys group as `gap-*`; anything else stays as it is.
 */
export function keyPrefix(name: string | null): string {
  if (name === null) return "(null)";
  if (name.startsWith("gap-")) return "gap-*";
  if (!name.startsWith("/")) return name;
  const second = name.indexOf("/", 1);
  if (second < 0) return name;
  const third = name.indexOf("/", second + 1);
  return third < 0 ? name : name.slice(0, third);
}

/** Bytes a row holds in its two value columns, as SQLite counts them. */
const ROW_BYTES = "IFNULL(length(value), 0) + IFNULL(length(old_value), 0)";

/** The mmap window for the scans: SQLite then reads pages in place instead of copying each one (a third less CPU here). */
const STATS_MMAP_BYTES = 1 << 30;

/**
 * Statistics of a kine database (see KineStats). One implementation for backup manifests and the
 * health check. Reads the whole kine table once (so the row count comes from the table, not an
 * index). Run it on a snapshot, not on a live database: it holds a read transaction while it scans.
 * Throws when the file is not a kine database or is unreadable.
 *
 * How it stays fast (200 MB, 144k rows: 0.73 s of CPU before, ~0.3 s now; each query's plan checked
 * with EXPLAIN QUERY PLAN): rows and bytes per key prefix are summed by an aggregate function in
 * one pass over the table — a GROUP BY there made SQLite copy every value blob into its sorter;
 * the uncompacted rows count tombstones and the other rows that a later revision supersedes, both
 * from covering indexes; live keys come from the name index. mmap is on while it reads unless
 * `mmap: false` (the backup: mapped pages count in the agent's RSS, see checkSnapshot).
 */
export function readKineStats(db: Database.Database, filePath: string, opts: { top?: number; mmap?: boolean } = {}): KineStats {
  const top = opts.top ?? 10;
  const useMmap = opts.mmap !== false && !db.memory;
  // Rows and bytes per prefix in one pass: SQLite calls `step` once per row with (name, bytes).
  let collected: Map<string, KeyPrefixStat> | null = null;
  const step = (acc: Map<string, KeyPrefixStat>, name: unknown, bytes: unknown) => {
    const prefix = keyPrefix(name as string | null);
    const e = acc.get(prefix);
    if (e) {
      e.rows++;
      e.bytes += bytes as number;
    } else acc.set(prefix, { prefix, rows: 1, bytes: bytes as number });
    return acc;
  };
  db.aggregate<Map<string, KeyPrefixStat>>("lifeboat_prefix_stats", {
    start: () => new Map<string, KeyPrefixStat>(),
    // The typings allow one argument per step; SQLite passes one per SQL argument.
    step: step as unknown as (acc: Map<string, KeyPrefixStat>, next: unknown) => Map<string, KeyPrefixStat>,
    result: (acc: Map<string, KeyPrefixStat>) => {
      collected = acc;
      return acc.size;
    },
  });
  const mmapBefore = db.pragma("mmap_size", { simple: true }) as number;
  if (useMmap) db.pragma(`mmap_size = ${STATS_MMAP_BYTES}`);
  const read = db.transaction(() => {
    const pageSize = db.pragma("page_size", { simple: true }) as number;
    const pageCount = db.pragma("page_count", { simple: true }) as number;
    const freelistCount = db.pragma("freelist_count", { simple: true }) as number;
    collected = null;
    db.prepare(`SELECT lifeboat_prefix_stats(name, ${ROW_BYTES}) FROM kine NOT INDEXED`).pluck().get();
    const prefixes = [...((collected as Map<string, KeyPrefixStat> | null)?.values() ?? [])];
    const currentRevision = (db.prepare("SELECT IFNULL(MAX(id), 0) FROM kine").pluck().get() as number) ?? 0;
    const compactRevision = (db.prepare("SELECT IFNULL(MAX(prev_revision), 0) FROM kine WHERE name = 'compact_rev_key'").pluck().get() as number) ?? 0;
    // Rows whose id is a tombstone's or another row's prev_revision (kine's compaction query), split
    // in two disjoint counts so neither side needs a UNION into a temporary b-tree.
    const uncompactedRows = db
      .prepare(
        `SELECT (SELECT COUNT(*) FROM kine WHERE deleted != 0)
              + (SELECT COUNT(*) FROM kine WHERE IFNULL(deleted != 0, 0) = 0 AND id IN (
                   SELECT prev_revision FROM kine WHERE name != 'compact_rev_key' AND prev_revision != 0))`,
      )
      .pluck()
      .get() as number;
    const liveKeys = db
      .prepare(
        `SELECT COUNT(*) FROM (SELECT MAX(id) AS id FROM kine WHERE name != 'compact_rev_key' AND name NOT LIKE 'gap-%' GROUP BY name) AS latest
         JOIN kine AS k ON k.id = latest.id WHERE k.deleted = 0`,
      )
      .pluck()
      .get() as number;
    return { pageSize, pageCount, freelistCount, prefixes, currentRevision, compactRevision, uncompactedRows, liveKeys };
  });
  let r: ReturnType<typeof read>;
  try {
    r = read();
  } finally {
    if (useMmap) db.pragma(`mmap_size = ${mmapBefore}`);
  }
  const rowCount = r.prefixes.reduce((n, p) => n + p.rows, 0);
  const byRows = [...r.prefixes].sort((a, b) => b.rows - a.rows || a.prefix.localeCompare(b.prefix)).slice(0, top);
  const byBytes = [...r.prefixes].sort((a, b) => b.bytes - a.bytes || a.prefix.localeCompare(b.prefix)).slice(0, top);
  let fileSize = r.pageSize * r.pageCount;
  try {
    fileSize = statSync(filePath).size;
  } catch {
    // An in-memory or vanished file: page_size × page_count is the logical size.
  }
  return {
    fileSize,
    pageSize: r.pageSize,
    pageCount: r.pageCount,
    freelistCount: r.freelistCount,
    rowCount,
    currentRevision: r.currentRevision,
    compactRevision: r.compactRevision,
    compactionLag: Math.max(0, r.currentRevision - r.compactRevision),
    uncompactedRows: r.uncompactedRows,
    liveKeys: r.liveKeys,
    topPrefixesByRows: byRows,
    topPrefixesByBytes: byBytes,
  };
}
