import type { ReactNode } from "react";
import { formatBytes, formatNumber } from "@/components/ui/format";

/** One label and value of a statistics list (`<dl>`). */
export function StatRow({ label, children, hint }: { label: string; children: ReactNode; hint?: string }) {
  return (
    <div className="flex justify-between gap-4 border-b border-slate-100 py-1.5 text-sm">
      <dt className="text-slate-600" title={hint}>
        {label}
      </dt>
      <dd className="text-right font-medium tabular-nums">{children}</dd>
    </div>
  );
}

/** The numbers a manifest and a drill both read from a kine database. */
export interface DatabaseNumbers {
  fileSize: number;
  pageCount: number;
  pageSize: number;
  freelistCount: number;
  rowCount: number;
  liveKeys: number;
  currentRevision: number;
  compactRevision: number;
  compactionLag: number;
  /** Rows compaction would delete now. */
  deadRows: number;
}

/** A kine database's file, rows, revisions and compaction as rows of a statistics list; `compactNote` follows the compact revision. */
export function DatabaseRows({ db: d, compactNote }: { db: DatabaseNumbers; compactNote?: ReactNode }) {
  return (
    <>
      <StatRow label="Database file">{formatBytes(d.fileSize)}</StatRow>
      <StatRow label="Pages (free)">
        {formatNumber(d.pageCount)} × {formatNumber(d.pageSize)} B ({formatNumber(d.freelistCount)} free)
      </StatRow>
      <StatRow label="Rows in kine" hint="Counted by scanning the table">
        {formatNumber(d.rowCount)}
      </StatRow>
      <StatRow label="Live keys">{formatNumber(d.liveKeys)}</StatRow>
      <StatRow label="Current revision">{formatNumber(d.currentRevision)}</StatRow>
      <StatRow label="Compact revision">
        {formatNumber(d.compactRevision)}
        {compactNote}
      </StatRow>
      <StatRow label="Compaction lag" hint="Healthy: near 1000 plus one interval's writes">
        <span className={d.compactionLag > 10_000 ? "text-red-700" : undefined}>{formatNumber(d.compactionLag)}</span>
      </StatRow>
      <StatRow label="Rows compaction would delete" hint="Superseded versions and tombstones">
        {formatNumber(d.deadRows)} ({d.rowCount ? Math.round((d.deadRows / d.rowCount) * 100) : 0} %)
      </StatRow>
    </>
  );
}
