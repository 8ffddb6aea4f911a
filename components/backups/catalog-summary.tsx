import type { ReactNode } from "react";
import Link from "next/link";
import { formatAge, formatBytes, formatTime } from "@/components/ui/format";
import type { CatalogView } from "@/lib/catalog/catalog-service";
import { AnomalyBadges } from "@/components/ui/anomaly-badges";
import { countsAsBackup } from "@/lib/backups/grouping";
import { ExplanationLine } from "./explanation";

function Stat({ label, children, sub }: { label: string; children: ReactNode; sub?: ReactNode }) {
  return (
    <div className="rounded-lg border border-slate-200 bg-white px-4 py-3 shadow-sm">
      <p className="text-xs font-medium uppercase tracking-wide text-slate-500">{label}</p>
      <p className="mt-1 text-xl font-semibold tabular-nums">{children}</p>
      {sub && <p className="mt-0.5 text-sm text-slate-600">{sub}</p>}
    </div>
  );
}

/** Newest backup, how many sets, and the newest flagged sets with their reasons and the first line of why. */
export function CatalogSummary({ view, now, explanations }: { view: CatalogView; now: Date; explanations?: ReadonlyMap<string, string> }) {
  // An upload that did not finish (no manifest) is no backup: the newest backup is the newest complete set.
  const newest = view.sets.find(countsAsBackup);
  const unfinished = view.sets[0] && view.sets[0] !== newest ? view.sets[0] : null;
  const flagged = view.sets.filter((s) => s.anomalies.length).slice(0, 4);
  return (
    <div className="grid gap-4 lg:grid-cols-3">
      <div className="grid gap-4 sm:grid-cols-2 lg:col-span-1 lg:grid-cols-1">
        <Stat
          label="Newest backup"
          sub={
            <>
              {newest ? formatTime(newest.timestamp) : view.sets.length ? "No complete backup set" : "No backup sets found"}
              {unfinished && (
                <span className="block text-red-800" data-testid="newest-incomplete">
                  A newer upload, {formatTime(unfinished.timestamp)}, is incomplete.
                </span>
              )}
            </>
          }
        >
          {newest ? formatAge(newest.timestamp, now) : "—"}
        </Stat>
        <Stat
          label="Backup sets"
          sub={`${formatBytes(view.sets.reduce((n, s) => n + s.objects.reduce((m, o) => m + o.size, 0), 0))} in total · ${view.other.length} other objects`}
        >
          {view.sets.length.toLocaleString("en-US")}
        </Stat>
      </div>
      <section className="rounded-lg border border-slate-200 bg-white shadow-sm lg:col-span-2" aria-labelledby="recent-flags">
        <div className="flex items-center justify-between border-b border-slate-100 px-4 py-3">
          <h2 id="recent-flags" className="text-sm font-semibold text-slate-800">
            Recent flags
          </h2>
          <span className="text-sm text-slate-600">
            {view.counts.critical} critical · {view.counts.warning} warning
          </span>
        </div>
        {flagged.length === 0 ? (
          <p className="px-4 py-6 text-sm text-slate-600">Nothing unusual: sizes and intervals are in line with the previous backups.</p>
        ) : (
          <ul className="divide-y divide-slate-100">
            {flagged.map((s) => (
              <li key={s.id} className="px-4 py-2.5 text-sm">
                <div className="flex flex-wrap items-center gap-2">
                  <Link href={`/backups/${s.id}`} className="font-medium text-blue-800 hover:underline">
                    {formatTime(s.timestamp)}
                  </Link>
                  <AnomalyBadges anomalies={s.anomalies} />
                </div>
                <p className="mt-0.5 text-slate-600">{s.anomalies[0].reason}</p>
                <ExplanationLine line={explanations?.get(s.id)} />
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}
