import { NextResponse } from "next/server";
import { apiRoute } from "@/lib/http/api-route";
import { catalogService } from "@/lib/catalog";

export const dynamic = "force-dynamic";

/** GET /api/backups/series — the size trend in columns (SizeChartData from lib/backups/series). */
export const GET = apiRoute({ access: "viewer" }, async () => {
  const catalog = catalogService();
  await catalog.ensureLoaded();
  return NextResponse.json(catalog.view().chart);
});
