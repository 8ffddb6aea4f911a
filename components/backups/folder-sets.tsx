import { Card } from "@/components/ui/card";
import { formatBytes, formatTime } from "@/components/ui/format";
import type { NestedSet } from "@/lib/contracts/catalog";

const SHOWN = 100;

/**
 * Sets in folders below the store (another cluster's under a longer prefix, a copy kept by hand):
 * listed apart from the history, never judged, drilled or proposed.
 */
export function FolderSets({ sets, prefix }: { sets: NestedSet[]; prefix: string | null }) {
  if (!sets.length) return null;
  const folders = [...new Set(sets.map((s) => s.folder))];
  return (
    <Card title={`Sets in folders below this store (${sets.length.toLocaleString("en-US")})`}>
      <p className="mb-2 text-sm text-slate-600">
        The agent writes at the top of its store ({prefix ? <span className="font-mono">{prefix}/</span> : "the bucket root"}), so sets in{" "}
        {folders.slice(0, 3).map((f, i) => (
          <span key={f}>
            {i ? ", " : ""}
            <span className="font-mono">{f}</span>
          </span>
        ))}
        {folders.length > 3 ? ` and ${folders.length - 3} more folders` : ""} are another cluster&apos;s or copies kept by hand: they are not in the history,
        the size trend or the alerts, and are never drilled or proposed for a restore. If they are this cluster&apos;s, AWS_S3_PATH is shorter than the
        agent&apos;s: give the dashboard the agent&apos;s.
      </p>
      <div className="relative overflow-x-auto">
        <table className="w-full text-left text-sm">
          <thead className="text-xs uppercase tracking-wide text-slate-500">
            <tr>
              <th scope="col" className="py-1 font-medium">
                Folder
              </th>
              <th scope="col" className="py-1 font-medium">
                Set
              </th>
              <th scope="col" className="py-1 text-right font-medium">
                Size
              </th>
              <th scope="col" className="py-1 pl-4 font-medium">
                Taken
              </th>
            </tr>
          </thead>
          <tbody>
            {sets.slice(0, SHOWN).map((s) => (
              <tr key={s.folder + s.id} className="border-t border-slate-100" data-testid="folder-set">
                <td className="break-all py-1 font-mono text-xs">{s.folder}</td>
                <td className="py-1 font-mono text-xs">
                  {s.id}
                  {s.missing.length ? <span className="ml-2 text-slate-500">(lacks its {s.missing.join(", ")})</span> : null}
                </td>
                <td className="py-1 text-right tabular-nums">{formatBytes(s.objects.reduce((n, o) => n + o.size, 0))}</td>
                <td className="whitespace-nowrap py-1 pl-4 text-slate-600">{formatTime(s.timestamp)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {sets.length > SHOWN && (
        <p className="mt-2 text-sm text-slate-600">…and {(sets.length - SHOWN).toLocaleString("en-US")} more: GET /api/backups lists them all.</p>
      )}
    </Card>
  );
}
