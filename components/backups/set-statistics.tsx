import { formatBytes, formatNumber, formatTime } from "@/components/ui/format";
import { DatabaseRows, StatRow } from "./database-rows";
import type { SetStatistics } from "@/lib/contracts/set-statistics";

/**
 * The database statistics kept for a set that has no manifest (a seed set), as its restore drill
 * read them: revisions and compaction, rows and live keys, pages, and the largest key prefixes.
 */
export function SetStatisticsView({ statistics: s }: { statistics: SetStatistics }) {
  const top = [...s.prefixes].sort((a, b) => b.rows - a.rows).slice(0, 10);
  return (
    <div className="grid gap-6 md:grid-cols-2" data-testid="set-statistics">
      <dl>
        <StatRow label="Read by">{s.from === "drill" ? `the restore drill of ${formatTime(s.recordedAt)}` : "the manifest"}</StatRow>
        <DatabaseRows
          db={s}
          compactNote={
            s.compactRevisionWrittenAt && <span className="ml-1 font-normal text-slate-500">(written about {formatTime(s.compactRevisionWrittenAt)})</span>
          }
        />
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
