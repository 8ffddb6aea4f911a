import type { Metadata } from "next";
import Link from "next/link";
import { notFound } from "next/navigation";
import { PageHeader } from "@/components/ui/page-header";
import { Card } from "@/components/ui/card";
import { Badge } from "@/components/ui/badge";
import { formatAge, formatBytes, formatTime } from "@/components/ui/format";
import { ManifestStats } from "@/components/backups/manifest-stats";
import { SetAnomalies } from "@/components/backups/set-anomalies";
import { StoreErrorBanner } from "@/components/backups/store-error-banner";
import { DrillDetails } from "@/components/backups/drill-details";
import { VerifyNowButton } from "@/components/backups/verify-now-button";
import { ExplanationView } from "@/components/backups/explanation";
import { SetStatisticsView } from "@/components/backups/set-statistics";
import { drillService } from "@/lib/restore";
import { statisticsService } from "@/lib/statistics";
import { catalogService } from "@/lib/catalog";
import { KIND_LABELS } from "@/lib/contracts/backup-names";
import { Allowed } from "@/components/layout/session";

export const dynamic = "force-dynamic";

type Props = { params: Promise<{ id: string }> };

export async function generateMetadata({ params }: Props): Promise<Metadata> {
  const { id } = await params;
  return { title: `Backup ${id}` };
}

const navLink = "rounded-md px-3 py-1.5 text-sm ring-1 ring-inset ring-slate-300 hover:bg-slate-100";

/** One backup set: its flags with reasons and, when flagged, why it is this size; its objects and sizes; its database statistics. */
export default async function BackupSetPage({ params }: Props) {
  const { id } = await params;
  const catalog = catalogService();
  await catalog.ensureLoaded();
  const detail = await catalog.detail(id);
  if (!detail) notFound();
  const { set, newerId, olderId, manifest } = detail;
  const now = new Date();
  const total = set.objects.reduce((n, o) => n + o.size, 0);
  const drills = drillService();
  const drill = drills.get(set.id);
  // Without an agent "Verify now" can only fail: the card says why instead.
  const drillOverview = drills.overview();
  const drillsOff = drillOverview.enabled ? null : drillOverview.note;
  const statistics = statisticsService();
  const { explanation, needsDrill } = await statistics.explain(set);
  const stats = statistics.statistics(set.id);
  const grew = set.anomalies.some((a) => a.type === "growth");

  return (
    <div className="space-y-5">
      <PageHeader
        title={`Backup of ${formatTime(set.timestamp)}`}
        subtitle={
          <>
            {set.format === "seed" ? "Made by the seed CronJob" : "Made by the Lifeboat agent"} · {formatAge(set.timestamp, now)} ·{" "}
            <span className="font-mono text-xs">{set.id}</span>
          </>
        }
        actions={
          <>
            {newerId && (
              <Link className={navLink} href={`/backups/${newerId}`} rel="prev">
                ← Newer
              </Link>
            )}
            {olderId && (
              <Link className={navLink} href={`/backups/${olderId}`} rel="next">
                Older →
              </Link>
            )}
            <Link className={navLink} href="/backups">
              All backups
            </Link>
          </>
        }
      />
      <StoreErrorBanner status={catalog.status()} now={now} />
      <Card title="Flags">
        <SetAnomalies anomalies={set.anomalies} />
      </Card>
      {explanation && (
        <Card title={grew ? "Why it grew" : "What changed in the database"}>
          <ExplanationView
            explanation={explanation}
            action={
              needsDrill &&
              !drillsOff && (
                <span className="flex items-center gap-3 text-sm text-slate-600">
                  {needsDrill === set.id ? "Read this set's statistics:" : `Read the statistics of ${needsDrill}:`}
                  <Allowed access="operator">
                    <VerifyNowButton setId={needsDrill} initial={needsDrill === set.id ? drill : drills.get(needsDrill)} />
                  </Allowed>
                </span>
              )
            }
          />
        </Card>
      )}
      <Card
        title="Restore drill"
        actions={
          drillsOff ? undefined : (
            <Allowed access="operator">
              <VerifyNowButton setId={set.id} initial={drill} />
            </Allowed>
          )
        }
      >
        <DrillDetails verification={set.verification} drill={drill} />
        {drillsOff && <p className="mt-2 text-sm text-amber-800">{drillsOff}</p>}
      </Card>
      <Card title={`Objects (${formatBytes(total)})`}>
        {set.missing.length > 0 && (
          <p className="mb-3 text-sm text-red-800">This set is incomplete: it has no {set.missing.map((k) => KIND_LABELS[k]).join(", ")}.</p>
        )}
        <div className="relative -mx-4 overflow-x-auto">
          <table className="w-full text-left text-sm" data-testid="set-objects">
            <thead className="border-b border-slate-200 text-xs uppercase tracking-wide text-slate-500">
              <tr>
                <th scope="col" className="px-4 py-2 font-medium">
                  Part
                </th>
                <th scope="col" className="px-4 py-2 font-medium">
                  Object
                </th>
                <th scope="col" className="px-4 py-2 text-right font-medium">
                  Size
                </th>
                <th scope="col" className="px-4 py-2 font-medium">
                  Uploaded
                </th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {set.objects.map((o) => {
                const flagged = set.anomalies.filter((a) => a.kind === o.kind);
                return (
                  <tr key={o.key}>
                    <td className="whitespace-nowrap px-4 py-2">
                      {KIND_LABELS[o.kind]}{" "}
                      {flagged.map((a, i) => (
                        <Badge key={i} tone={a.level === "critical" ? "critical" : "warning"}>
                          {a.type}
                        </Badge>
                      ))}
                    </td>
                    <td className="min-w-56 break-all px-4 py-2 font-mono text-xs">{o.key}</td>
                    <td className="whitespace-nowrap px-4 py-2 text-right tabular-nums">
                      {formatBytes(o.size)} <span className="text-xs text-slate-500">({o.size.toLocaleString("en-US")} B)</span>
                    </td>
                    <td className="whitespace-nowrap px-4 py-2 text-slate-600">{formatTime(o.lastModified)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </Card>
      {set.format === "seed" && stats ? (
        <Card title="Database statistics (restore drill)">
          <SetStatisticsView statistics={stats} />
        </Card>
      ) : (
        <Card title={set.format === "seed" ? "Database statistics" : "Database statistics (manifest)"}>
          <ManifestStats state={manifest} format={set.format} />
        </Card>
      )}
    </div>
  );
}
