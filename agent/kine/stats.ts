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

/**
 * Statistics of a kine database (see KineStats). One implementation for backup manifests and the
 * health check. Reads the whole kine table once (so the row count comes from the table, not an
 * index). Run it on a snapshot, not on a live database: it holds a read transaction while it scans.
 * Throws when the file is not a kine database or is unreadable.
 */
export function readKineStats(db: Database.Database, filePath: string, opts: { top?: number } = {}): KineStats {
  const top = opts.top ?? 10;
  db.function("lifeboat_key_prefix", { deterministic: true }, (name: unknown) => keyPrefix(name as string | null));
  const read = db.transaction(() => {
    const pageSize = db.pragma("page_size", { simple: true }) as number;
    const pageCount = db.pragma("page_count", { simple: true }) as number;
    const freelistCount = db.pragma("freelist_count", { simple: true }) as number;
    const prefixes = db
      .prepare(
        `SELECT lifeboat_key_prefix(name) AS prefix, COUNT(*) AS rows,
                SUM(IFNULL(length(value), 0) + IFNULL(length(old_value), 0)) AS bytes
         FROM kine NOT INDEXED GROUP BY prefix`,
      )
      .all() as KeyPrefixStat[];
    const currentRevision = (db.prepare("SELECT IFNULL(MAX(id), 0) FROM kine").pluck().get() as number) ?? 0;
    const compactRevision = (db.prepare("SELECT IFNULL(MAX(prev_revision), 0) FROM kine WHERE name = 'compact_rev_key'").pluck().get() as number) ?? 0;
    const uncompactedRows = db
      .prepare(
        `SELECT COUNT(*) FROM kine WHERE id IN (
           SELECT prev_revision FROM kine WHERE name != 'compact_rev_key' AND prev_revision != 0
           UNION SELECT id FROM kine WHERE deleted != 0)`,
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
  const r = read();
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
