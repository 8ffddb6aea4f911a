import { Card } from "@/components/ui/card";
import { formatBytes, formatTime } from "@/components/ui/format";
import type { OtherObject } from "@/lib/contracts/catalog";

const SHOWN = 100;

/** Objects under the prefix that are not part of a backup set: listed, never hidden. */
export function OtherObjects({ other }: { other: OtherObject[] }) {
  if (!other.length) return null;
  return (
    <Card title={`Other objects (${other.length.toLocaleString("en-US")})`}>
      <p className="mb-2 text-sm text-slate-600">These names are not a backup the catalog knows (seed CronJob or Lifeboat), so they are listed as they are.</p>
      <div className="relative overflow-x-auto">
        <table className="w-full text-left text-sm">
          <thead className="text-xs uppercase tracking-wide text-slate-500">
            <tr>
              <th scope="col" className="py-1 font-medium">
                Key
              </th>
              <th scope="col" className="py-1 text-right font-medium">
                Size
              </th>
              <th scope="col" className="py-1 pl-4 font-medium">
                Last modified
              </th>
            </tr>
          </thead>
          <tbody>
            {other.slice(0, SHOWN).map((o) => (
              <tr key={o.key} className="border-t border-slate-100">
                <td className="break-all py-1 font-mono text-xs">{o.key}</td>
                <td className="py-1 text-right tabular-nums">{formatBytes(o.size)}</td>
                <td className="whitespace-nowrap py-1 pl-4 text-slate-600">{formatTime(o.lastModified)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {other.length > SHOWN && (
        <p className="mt-2 text-sm text-slate-600">…and {(other.length - SHOWN).toLocaleString("en-US")} more: GET /api/backups lists them all.</p>
      )}
    </Card>
  );
}
