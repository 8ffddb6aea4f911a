import { statSync } from "node:fs";
import type Database from "better-sqlite3";
import type { KineStats, KeyPrefixStat } from "../../lib/contracts/manifest";
import { objectCreationTime } from "./object-time";

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
 * The first three path segments of a key that has more below them (`/registry/leases/kube-system/x`
 * → `/registry/leases/kube-system`: for namespaced objects, the namespace); null for shorter keys.
 */
export function keySubPrefix(name: string | null): string | null {
  if (name === null || !name.startsWith("/")) return null;
  const second = name.indexOf("/", 1);
  const third = second < 0 ? -1 : name.indexOf("/", second + 1);
  const fourth = third < 0 ? -1 : name.indexOf("/", third + 1);
  return fourth < 0 ? null : name.slice(0, fourth);
}

/** Bytes a row holds in its two value columns, as SQLite counts them. */
const ROW_BYTES = "IFNULL(length(value), 0) + IFNULL(length(old_value), 0)";

/** The mmap window for the scans: SQLite then reads pages in place instead of copying each one (a third less CPU here). */
const STATS_MMAP_BYTES = 1 << 30;
/** Every prefix goes into `prefixes` up to this many (a cluster has tens of resource types; this bounds a manifest). */
const MAX_PREFIXES = 500;
const SUB_PREFIXES = 25;
/** Create rows read after the compact revision to find one whose object tells its creation time. */
const TIME_PROBE_ROWS = 50;

type PrefixMap = Map<string, KeyPrefixStat>;

function count(acc: PrefixMap, prefix: string, bytes: number, rows: number, live: number): void {
  const e = acc.get(prefix);
  if (e) {
    e.rows += rows;
    e.bytes += bytes;
    e.liveKeys! += live;
  } else acc.set(prefix, { prefix, rows, bytes, liveKeys: live });
}

/**
 * The rank of each character kine's prefixes are usually made of, in the order `localeCompare`
 * (ICU's root collation, as in English locales) puts them: `_ - . * /`, then digits, then lowercase
 * letters. Strings made only of these compare as `localeCompare` compares them, character by
 * character with the shorter first (kine-stats' test checks this against `localeCompare` itself).
 */
const RANK = new Int8Array(128).fill(-1);
[..."_-.*/0123456789abcdefghijklmnopqrstuvwxyz"].forEach((c, i) => (RANK[c.charCodeAt(0)] = i));

/**
 * The manifest's order of prefix names (a tie-break after rows or bytes): `localeCompare`'s, without
 * calling it for the usual names. The first `localeCompare` maps ICU's collation data into the
 * process (+2.7 MB of RSS, measured alone), and the statistics run on the SQLite worker beside the
 * backup's upload, at its peak (docs/benchmarks.md, "fourth round"). Other names (capitals, other
 * punctuation, non-ASCII) still go to `localeCompare`.
 */
export function comparePrefixNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const rx = x < 128 ? RANK[x] : -1;
    const ry = y < 128 ? RANK[y] : -1;
    if (rx < 0 || ry < 0) return a.localeCompare(b);
    // The rest cannot change the answer, but must be usual too: localeCompare looks at the whole string.
    if (!isUsual(a, i + 1) || !isUsual(b, i + 1)) return a.localeCompare(b);
    return rx - ry;
  }
  if (!isUsual(a, n) || !isUsual(b, n)) return a.localeCompare(b);
  return a.length - b.length;
}

function isUsual(s: string, from: number): boolean {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || RANK[c] < 0) return false;
  }
  return true;
}

const byRowsThenName = (a: KeyPrefixStat, b: KeyPrefixStat) => b.rows - a.rows || comparePrefixNames(a.prefix, b.prefix);
const byBytesThenName = (a: KeyPrefixStat, b: KeyPrefixStat) => b.bytes - a.bytes || comparePrefixNames(a.prefix, b.prefix);

/**
 * Statistics of a kine database (see KineStats). One implementation for backup manifests, restore
 * drills and the health check. Reads the whole kine table once (so the row count comes from the
 * table, not an index). Run it on a snapshot, not on a live database: it holds a read transaction
 * while it scans. Throws when the file is not a kine database or is unreadable.
 *
 * How it stays fast (200 MB, 144k rows: 0.73 s of CPU before, ~0.3 s now; each query's plan checked
 * with EXPLAIN QUERY PLAN): rows and bytes per key prefix (and per three-segment prefix) are summed
 * by an aggregate function in one pass over the table — a GROUP BY there made SQLite copy every
 * value blob into its sorter; the uncompacted rows count tombstones and the other rows that a later
 * revision supersedes, both from covering indexes; live keys (per prefix) come from the name index.
 * mmap is on while it reads unless `mmap: false` (the backup: mapped pages count in the agent's RSS,
 * see checkSnapshot).
 */
export function readKineStats(db: Database.Database, filePath: string, opts: { top?: number; mmap?: boolean } = {}): KineStats {
  const top = opts.top ?? 10;
  const useMmap = opts.mmap !== false && !db.memory;
  // Rows and bytes per prefix in one pass: SQLite calls `step` once per row with (name, bytes); the
  // second aggregate is called once per live key with its name.
  let rowsBy: { prefixes: PrefixMap; subs: PrefixMap } | null = null;
  let liveBy: { prefixes: PrefixMap; subs: PrefixMap } | null = null;
  const aggregate = (fn: string, rows: 0 | 1, live: 0 | 1, done: (acc: { prefixes: PrefixMap; subs: PrefixMap }) => void) => {
    const step = (acc: { prefixes: PrefixMap; subs: PrefixMap }, name: unknown, bytes: unknown) => {
      const n = name as string | null;
      const b = rows ? (bytes as number) : 0;
      count(acc.prefixes, keyPrefix(n), b, rows, live);
      const sub = keySubPrefix(n);
      if (sub !== null) count(acc.subs, sub, b, rows, live);
      return acc;
    };
    db.aggregate<{ prefixes: PrefixMap; subs: PrefixMap }>(fn, {
      start: () => ({ prefixes: new Map(), subs: new Map() }),
      // The typings allow one argument per step; SQLite passes one per SQL argument.
      step: step as unknown as (acc: { prefixes: PrefixMap; subs: PrefixMap }, next: unknown) => { prefixes: PrefixMap; subs: PrefixMap },
      result: (acc: { prefixes: PrefixMap; subs: PrefixMap }) => {
        done(acc);
        return acc.prefixes.size;
      },
    });
  };
  aggregate("lifeboat_prefix_stats", 1, 0, (acc) => (rowsBy = acc));
  aggregate("lifeboat_live_prefixes", 0, 1, (acc) => (liveBy = acc));
  const mmapBefore = db.pragma("mmap_size", { simple: true }) as number;
  if (useMmap) db.pragma(`mmap_size = ${STATS_MMAP_BYTES}`);
  const read = db.transaction(() => {
    const pageSize = db.pragma("page_size", { simple: true }) as number;
    const pageCount = db.pragma("page_count", { simple: true }) as number;
    const freelistCount = db.pragma("freelist_count", { simple: true }) as number;
    rowsBy = liveBy = null;
    db.prepare(`SELECT lifeboat_prefix_stats(name, ${ROW_BYTES}) FROM kine NOT INDEXED`).pluck().get();
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
    db.prepare(
      `SELECT lifeboat_live_prefixes(k.name, 0) FROM (SELECT MAX(id) AS id FROM kine WHERE name != 'compact_rev_key' AND name NOT LIKE 'gap-%' GROUP BY name) AS latest
         JOIN kine AS k ON k.id = latest.id WHERE k.deleted = 0`,
    )
      .pluck()
      .get();
    // The first objects created after the compact revision tell about when compaction last advanced
    // (the id range keeps it a short primary-key scan even on a quiet cluster).
    let compactRevisionWrittenAt: string | null = null;
    if (compactRevision > 0) {
      const values = db
        .prepare("SELECT value FROM kine WHERE id > ? AND id <= ? AND created = 1 AND value IS NOT NULL ORDER BY id LIMIT ?")
        .pluck()
        .all(compactRevision, compactRevision + 10_000, TIME_PROBE_ROWS) as (Buffer | string)[];
      for (const v of values) {
        const t = objectCreationTime(v);
        if (t) {
          compactRevisionWrittenAt = t.toISOString();
          break;
        }
      }
    }
    return { pageSize, pageCount, freelistCount, currentRevision, compactRevision, uncompactedRows, compactRevisionWrittenAt };
  });
  let r: ReturnType<typeof read>;
  try {
    r = read();
  } finally {
    if (useMmap) db.pragma(`mmap_size = ${mmapBefore}`);
  }
  const rowAcc = rowsBy as { prefixes: PrefixMap; subs: PrefixMap } | null;
  const liveAcc = liveBy as { prefixes: PrefixMap; subs: PrefixMap } | null;
  const withLive = (rows: PrefixMap | undefined, live: PrefixMap | undefined) =>
    [...(rows?.values() ?? [])].map((p) => ({ prefix: p.prefix, rows: p.rows, bytes: p.bytes, liveKeys: live?.get(p.prefix)?.liveKeys ?? 0 }));
  const prefixes = withLive(rowAcc?.prefixes, liveAcc?.prefixes);
  const subs = withLive(rowAcc?.subs, liveAcc?.subs);
  const rowCount = prefixes.reduce((n, p) => n + p.rows, 0);
  const liveKeys = prefixes.reduce((n, p) => n + p.liveKeys, 0);
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
    liveKeys,
    topPrefixesByRows: [...prefixes].sort(byRowsThenName).slice(0, top),
    topPrefixesByBytes: [...prefixes].sort(byBytesThenName).slice(0, top),
    prefixes: [...prefixes].sort(byRowsThenName).slice(0, MAX_PREFIXES),
    subPrefixes: subs.sort(byRowsThenName).slice(0, SUB_PREFIXES),
    compactRevisionWrittenAt: r.compactRevisionWrittenAt,
  };
}
