import { NextResponse } from "next/server";
import { apiRoute } from "@/lib/http/api-route";
import { catalogService } from "@/lib/catalog";
import type { SizeChartData } from "@/lib/backups/series";
import { statisticsService } from "@/lib/statistics";

export const dynamic = "force-dynamic";

/**
 * GET /api/backups/series — the size trend in columns (SizeChartData from lib/backups/series), with
 * the rows, live keys and compaction lag of the sets that have statistics (left out while none
 * has). The first call reads the Lifeboat manifests not read yet, for up to 3 s (the rest follow
 * in the background).
 */
export const GET = apiRoute({ access: "viewer" }, async () => {
  const catalog = catalogService();
  await catalog.ensureLoaded();
  const statistics = statisticsService();
  await statistics.syncFor(3000);
  const chart = catalog.view().chart;
  const columns = statistics.columns(chart.setIds);
  // Columns of nulls only (no set has statistics yet) would add ~15 bytes a set for nothing.
  const answer: SizeChartData = columns.rows.some((v) => v !== null) ? { ...chart, statistics: columns } : chart;
  return NextResponse.json(answer);
});
