import Link from "next/link";
import { Badge } from "@/components/ui/badge";
import { formatAge, formatBytes, formatTime } from "@/components/ui/format";
import { KIND_LABELS } from "@/lib/contracts/backup-names";
import type { CatalogSet } from "@/lib/contracts/catalog";
import { AnomalyBadges } from "@/components/ui/anomaly-badges";
import { VerificationBadge } from "@/components/ui/verification-badge";
import { ExplanationLine } from "./explanation";

const FORMAT_LABELS = { seed: "CronJob", lifeboat: "Lifeboat" } as const;

/** One row per set, newest first: time, age, contents, size of each part, flags (with the first line of why a flagged set grew). */
export function HistoryTable({ sets, now, explanations }: { sets: CatalogSet[]; now: Date; explanations?: ReadonlyMap<string, string> }) {
  if (!sets.length) return <p className="py-6 text-center text-sm text-slate-500">No backup sets match.</p>;
  return (
    <div className="relative -mx-4 overflow-x-auto">
      <table className="w-full text-left text-sm" data-testid="history-table">
        <thead className="border-b border-slate-200 text-xs uppercase tracking-wide text-slate-500">
          <tr>
            <th scope="col" className="px-4 py-2 font-medium">
              Time
            </th>
            <th scope="col" className="px-4 py-2 font-medium">
              Age
            </th>
            <th scope="col" className="px-4 py-2 font-medium">
              Contents
            </th>
            <th scope="col" className="px-4 py-2 font-medium">
              Size of each part
            </th>
            <th scope="col" className="px-4 py-2 text-right font-medium">
              Total
            </th>
            <th scope="col" className="px-4 py-2 font-medium">
              Flags
            </th>
            <th scope="col" className="px-4 py-2 font-medium">
              Restore drill
            </th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {sets.map((s) => {
            const level = s.anomalies.some((a) => a.level === "critical") ? "critical" : s.anomalies.length ? "warning" : null;
            return (
              <tr
                key={s.id}
                data-set-id={s.id}
                className={level === "critical" ? "bg-red-50/60" : level === "warning" ? "bg-amber-50/50" : "hover:bg-slate-50"}
              >
                <td className="whitespace-nowrap px-4 py-2">
                  <Link href={`/backups/${s.id}`} className="font-medium text-blue-800 hover:underline">
                    {formatTime(s.timestamp)}
                  </Link>
                </td>
                <td className="whitespace-nowrap px-4 py-2 text-slate-600">{formatAge(s.timestamp, now)}</td>
                <td className="px-4 py-2">
                  <span className="flex flex-wrap items-center gap-1">
                    <Badge tone="neutral">{FORMAT_LABELS[s.format]}</Badge>
                    {s.missing.length > 0 && (
                      <Badge tone="critical" title={`This set has no ${s.missing.map((k) => KIND_LABELS[k]).join(", ")}`}>
                        missing {s.missing.map((k) => KIND_LABELS[k].replace(/ \(seed\)$/, "")).join(", ")}
                      </Badge>
                    )}
                  </span>
                </td>
                <td className="px-4 py-2">
                  <ul className="space-y-0.5">
                    {s.objects.map((o) => (
                      <li key={o.key} className="flex justify-between gap-3 whitespace-nowrap">
                        <span className="text-slate-600">{KIND_LABELS[o.kind].replace(/ \(seed\)$/, "")}</span>
                        <span className="tabular-nums">{formatBytes(o.size)}</span>
                      </li>
                    ))}
                  </ul>
                </td>
                <td className="whitespace-nowrap px-4 py-2 text-right tabular-nums">{formatBytes(s.objects.reduce((n, o) => n + o.size, 0))}</td>
                <td className="min-w-64 px-4 py-2">
                  <AnomalyBadges anomalies={s.anomalies} />
                  <ExplanationLine line={explanations?.get(s.id)} />
                </td>
                <td className="whitespace-nowrap px-4 py-2">
                  <VerificationBadge verification={s.verification} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
