import { formatNumber, formatTime } from "@/components/ui/format";
import type { DatabaseDiff, RestoreRecord } from "@/lib/contracts/agent-restore";

/** What restoring changes compared with the live database: the agent's sentence, then per resource type. */
export function DiffSummary({ diff, diffError }: { diff: DatabaseDiff | null; diffError: string | null }) {
  if (!diff) return <p className="text-sm text-amber-900">{diffError ?? "The live database could not be compared with the backup."}</p>;
  const rows = diff.byType.filter((t) => t.onlyInCurrent || t.onlyInCandidate || t.changed);
  return (
    <div data-testid="restore-diff" className="space-y-3 text-sm">
      <p className={diff.objectsLost > 0 ? "font-medium text-amber-900" : "font-medium text-slate-800"}>{diff.summary}</p>
      <div className="grid gap-3 sm:grid-cols-2">
        {[diff.current, diff.candidate].map((side, i) => (
          <div key={i} className="rounded-md bg-slate-50 p-3">
            <p className="text-xs font-semibold uppercase tracking-wide text-slate-500">{i === 0 ? "Now on the target" : "After the restore"}</p>
            <p className="mt-1 wrap-anywhere text-slate-700">{side.label}</p>
            <p className="text-slate-700">
              revision {formatNumber(side.currentRevision)} · {formatNumber(side.objects)} objects · {formatNumber(side.rows)} rows
              {side.takenAt ? ` · taken ${formatTime(side.takenAt)}` : ""}
            </p>
          </div>
        ))}
      </div>
      {rows.length > 0 && (
        <div className="relative overflow-x-auto">
          <table className="w-full text-left text-sm">
            <thead className="border-b border-slate-200 text-xs uppercase tracking-wide text-slate-500">
              <tr>
                <th scope="col" className="py-1.5 pr-3 font-medium">
                  Resource type
                </th>
                <th scope="col" className="py-1.5 pr-3 text-right font-medium">
                  Removed
                </th>
                <th scope="col" className="py-1.5 pr-3 text-right font-medium">
                  Older version
                </th>
                <th scope="col" className="py-1.5 pr-3 text-right font-medium">
                  Brought back
                </th>
                <th scope="col" className="py-1.5 font-medium">
                  For example
                </th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {rows.slice(0, 15).map((t) => (
                <tr key={t.type}>
                  <td className="py-1.5 pr-3 font-medium">{t.type}</td>
                  <td className="py-1.5 pr-3 text-right tabular-nums">{t.onlyInCurrent || "—"}</td>
                  <td className="py-1.5 pr-3 text-right tabular-nums">{t.changed || "—"}</td>
                  <td className="py-1.5 pr-3 text-right tabular-nums">{t.onlyInCandidate || "—"}</td>
                  <td className="max-w-xs truncate py-1.5 font-mono text-xs text-slate-600" title={t.examples.join("\n")}>
                    {t.examples.slice(0, 3).join(", ")}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {diff.revisionsOnlyInCurrent.count > 0 && (
        <p className="text-xs text-slate-600">
          {formatNumber(diff.revisionsOnlyInCurrent.count)} revisions exist only in the live database
          {diff.revisionsOnlyInCurrent.ranges.length > 0 &&
            ` (${diff.revisionsOnlyInCurrent.ranges
              .slice(0, 4)
              .map((r) => (r.from === r.to ? r.from : `${r.from}–${r.to}`))
              .join(", ")}${diff.revisionsOnlyInCurrent.ranges.length > 4 ? ", …" : ""})`}
          .
        </p>
      )}
    </div>
  );
}

/** What the verify step proved about the staged backup. */
export function VerificationSummary({ record }: { record: RestoreRecord }) {
  const v = record.verification;
  if (!v) return null;
  const st = v.stats;
  return (
    <ul data-testid="staged-verification" className="space-y-1 text-sm text-slate-700">
      <li>
        <span aria-hidden className="text-emerald-700">
          ✓{" "}
        </span>
        integrity_check {v.integrity.ok ? "ok" : `failed: ${v.integrity.messages.slice(0, 2).join("; ")}`}
        {st && ` · revision ${formatNumber(st.currentRevision)}, ${formatNumber(st.rowCount)} rows, ${formatNumber(st.liveKeys)} live keys`}
      </li>
      <li>
        <span aria-hidden className="text-emerald-700">
          ✓{" "}
        </span>
        {v.looksLikeKine ? "kine's table, columns and compact_rev_key are there" : "does not look like kine"}
        {v.walReplayed ? " · the archive's WAL was replayed into it" : ""}
      </li>
      <li>
        <span aria-hidden className={v.token.fits ? "text-emerald-700" : "text-red-700"}>
          {v.token.fits ? "✓ " : "✕ "}
        </span>
        {v.token.message}
      </li>
      <li className="text-slate-600">
        Staged: state.db{v.staged.token ? ", token" : ""}
        {v.staged.credFiles ? `, cred/ (${v.staged.credFiles} files)` : ""}
        {v.staged.tlsFiles ? `, tls/ (${v.staged.tlsFiles} files)` : ""} — from {record.sourceDescription}
      </li>
      {record.point && (
        <li data-testid="staged-point">
          <span aria-hidden className="text-emerald-700">
            ✓{" "}
          </span>
          brought forward with {formatNumber(record.point.segmentsApplied)} log segments to revision {formatNumber(record.point.revision ?? 0)}
          {record.point.readAt ? ` (read ${formatTime(record.point.readAt, { seconds: true })})` : ""} from the base {record.point.baseSetId}
        </li>
      )}
      {v.warnings.map((w) => (
        <li key={w} className="text-amber-900">
          {w}
        </li>
      ))}
    </ul>
  );
}
