import type { Metadata } from "next";
import { PageHeader } from "@/components/ui/page-header";
import { Card } from "@/components/ui/card";
import { Banner } from "@/components/ui/banner";
import { CatalogFreshness } from "@/components/backups/catalog-freshness";
import { CatalogSummary } from "@/components/backups/catalog-summary";
import { DemoBanner } from "@/components/backups/demo-banner";
import { FlagFilter } from "@/components/backups/flag-filter";
import { HistoryTable } from "@/components/backups/history-table";
import { OtherObjects } from "@/components/backups/other-objects";
import { FolderSets } from "@/components/backups/folder-sets";
import { Pagination } from "@/components/backups/pagination";
import { RefreshButton } from "@/components/backups/refresh-button";
import { BackupNowButton } from "@/components/backups/backup-now-button";
import { SizeChart } from "@/components/backups/size-chart";
import { StoreErrorBanner } from "@/components/backups/store-error-banner";
import { DrillStatus } from "@/components/backups/drill-status";
import { ProtectionLine } from "@/components/backups/protection-line";
import { startRestoreBackground } from "@/lib/restore";
import { statisticsService } from "@/lib/statistics";
import { catalogService } from "@/lib/catalog";
import { CatalogFilter } from "@/lib/contracts/catalog";
import { getEnv } from "@/lib/env";
import { hasErrorCode } from "@/lib/contracts/errors";
import { Allowed } from "@/components/layout/session";

export const dynamic = "force-dynamic";
export const metadata: Metadata = { title: "Backups" };

const PAGE_SIZE = 50;

/** The backup history: freshness, banners, flags, the size trend and one row per set (paged on the server). */
export default async function BackupsPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const sp = await searchParams;
  const parsedFlag = CatalogFilter.safeParse(sp.flag);
  const flag = parsedFlag.success ? parsedFlag.data : "all";
  const asked = Math.max(1, Number.parseInt(String(sp.page ?? "1"), 10) || 1);

  let catalog;
  try {
    catalog = catalogService();
  } catch (err) {
    if (!hasErrorCode(err, "config")) throw err;
    return (
      <>
        <PageHeader title="Backups" />
        <Banner tone="error" title="The dashboard's configuration is invalid">
          <pre className="whitespace-pre-wrap font-mono text-xs">{err.message}</pre>
        </Banner>
      </>
    );
  }
  await catalog.ensureLoaded();
  startRestoreBackground();
  const now = new Date();
  const status = catalog.status();
  const view = catalog.view();
  // A page past the end (a link from before retention deleted sets, or before a filter's count fell) shows the last page, not "no sets".
  const page = Math.min(asked, Math.max(1, Math.ceil(catalog.page({ flag, offset: 0, limit: 0 }).total / PAGE_SIZE)));
  const { sets, total } = catalog.page({ flag, offset: (page - 1) * PAGE_SIZE, limit: PAGE_SIZE });
  // The first line of each flagged set's explanation: in its history row and in the Recent flags card.
  const recent = view.sets.filter((s) => s.anomalies.length).slice(0, 4);
  const explanations = await statisticsService().firstLines([...new Map([...recent, ...sets].map((s) => [s.id, s])).values()]);

  return (
    <div className="space-y-5">
      <PageHeader
        title="Backups"
        subtitle={status.configured ? <span className="font-mono text-xs">{status.source}</span> : "No backup store configured"}
        actions={
          <>
            <Allowed access="operator">
              {getEnv().LIFEBOAT_AGENT_URL ? <BackupNowButton /> : null}
              <RefreshButton />
            </Allowed>
          </>
        }
      />
      <CatalogFreshness initial={status} />
      <StoreErrorBanner status={status} now={now} />
      {!status.refreshedAt && status.refreshing && (
        <Banner tone="info" title="Reading the bucket for the first time">
          A big bucket takes a while (S3 lists 1,000 objects per request). This page fills in by itself when the listing is done; later visits read the
          dashboard&apos;s cache.
        </Banner>
      )}
      {getEnv().LIFEBOAT_DEMO && <DemoBanner />}
      {/* Before the first good listing the view is empty, not a bucket without backups: no "0 sets", no "nothing unusual". */}
      {status.refreshedAt && (
        <>
          <CatalogSummary view={view} now={now} explanations={explanations} />
          <Card title="Size trend">
            <SizeChart />
          </Card>
          <Card title="History" actions={<FlagFilter active={flag} counts={view.counts} />}>
            <DrillStatus />
            {getEnv().LIFEBOAT_AGENT_URL ? <ProtectionLine /> : null}
            <HistoryTable sets={sets} now={now} explanations={explanations} />
            <Pagination page={page} pageSize={PAGE_SIZE} total={total} flag={flag} />
          </Card>
          <FolderSets sets={view.nested} prefix={status.prefix} />
          <OtherObjects other={view.other} />
        </>
      )}
    </div>
  );
}
