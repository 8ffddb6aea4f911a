import type { ReactNode } from "react";
import { formatBytes, formatNumber, formatTime } from "@/components/ui/format";
import type { SetStatistics } from "@/lib/contracts/set-statistics";

function Row({ label, children, hint }: { label: string; children: ReactNode; hint?: string }) {
  return (
    <div className="flex justify-between gap-4 border-b border-slate-100 py-1.5 text-sm">
      <dt className="text-slate-600" title={hint}>
        {label}
      </dt>
      <dd className="text-right font-medium tabular-nums">{children}</dd>
    </div>
  );
}

/**
 * The database statistics kept for a set that has no manifest (a seed set), as its restore drill
 * read them: revisions and compaction, rows and live keys, pages, and the largest key prefixes.
 */
export function SetStatisticsView({ statistics: s }: { statistics: SetStatistics }) {
  const top = [...s.prefixes].sort((a, b) => b.rows - a.rows).slice(0, 10);
  return (
    <div className="grid gap-6 md:grid-cols-2" data-testid="set-statistics">
      <dl>
        <Row label="Read by">{s.from === "drill" ? `the restore drill of ${formatTime(s.recordedAt)}` : "the manifest"}</Row>
        <Row label="Database file">{formatBytes(s.fileSize)}</Row>
        <Row label="Pages (free)">
          {formatNumber(s.pageCount)} × {formatBytes(s.pageSize)} ({formatNumber(s.freelistCount)} free)
        </Row>
        <Row label="Rows in kine">{formatNumber(s.rowCount)}</Row>
        <Row label="Live keys">{formatNumber(s.liveKeys)}</Row>
        <Row label="Current revision">{formatNumber(s.currentRevision)}</Row>
        <Row label="Compact revision">
          {formatNumber(s.compactRevision)}
          {s.compactRevisionWrittenAt && <span className="ml-1 font-normal text-slate-500">(about {formatTime(s.compactRevisionWrittenAt)})</span>}
        </Row>
        <Row label="Compaction lag" hint="Healthy: near 1000 plus one interval's writes">
          <span className={s.compactionLag > 10_000 ? "text-red-700" : undefined}>{formatNumber(s.compactionLag)}</span>
        </Row>
        <Row label="Rows compaction would delete" hint="Superseded versions and tombstones">
          {formatNumber(s.deadRows)} ({s.rowCount ? Math.round((s.deadRows / s.rowCount) * 100) : 0} %)
        </Row>
      </dl>
      <div>
        <h3 className="mb-1 text-xs font-semibold uppercase tracking-wide text-slate-500">Key prefixes by rows</h3>
        <table className="w-full text-sm">
          <thead className="text-xs text-slate-500">
            <tr>
              <th className="py-1 text-left font-medium">Prefix</th>
              <th className="py-1 text-right font-medium">Rows</th>
              <th className="py-1 text-right font-medium">Live keys</th>
              <th className="py-1 pl-3 text-right font-medium">Bytes</th>
            </tr>
          </thead>
          <tbody>
            {top.map((p) => (
              <tr key={p.prefix} className="border-t border-slate-100">
                <td className="break-all py-1 font-mono text-xs">{p.prefix}</td>
                <td className="py-1 text-right tabular-nums">{formatNumber(p.rows)}</td>
                <td className="py-1 text-right tabular-nums">{p.liveKeys === undefined ? "—" : formatNumber(p.liveKeys)}</td>
                <td className="py-1 pl-3 text-right tabular-nums">{formatBytes(p.bytes)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
