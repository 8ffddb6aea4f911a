import { NextResponse } from "next/server";
import { handle } from "@/lib/http/api";
import { catalogForRequest } from "@/lib/catalog/http";

export const dynamic = "force-dynamic";

/** GET /api/backups/series — the size trend in columns (SizeChartData from lib/backups/series). */
export const GET = handle(async () => {
  const catalog = catalogForRequest();
  await catalog.ensureLoaded();
  return NextResponse.json(catalog.view().chart);
});
