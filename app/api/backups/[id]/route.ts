import { NextResponse } from "next/server";
import { apiRoute, type Params } from "@/lib/http/api-route";
import { catalogService } from "@/lib/catalog";
import { DomainError } from "@/lib/contracts/errors";
import type { CatalogSetDetail } from "@/lib/contracts/catalog";
import { statisticsService } from "@/lib/statistics";

export const dynamic = "force-dynamic";

/**
 * GET /api/backups/:id — one set with its anomalies, neighbours, manifest, database statistics and,
 * for a flagged set, the explanation of its size (CatalogSetDetail); 404 when unknown.
 */
export const GET = apiRoute<Params<{ id: string }>>({ access: "viewer" }, async (_req, { params }) => {
  const { id } = await params;
  const catalog = catalogService();
  await catalog.ensureLoaded();
  const detail = await catalog.detail(id);
  if (!detail) throw new DomainError("not_found", `No backup set ${id} in ${catalog.source} (as of the last refresh).`);
  const statistics = statisticsService();
  const { explanation } = await statistics.explain(detail.set);
  const answer: CatalogSetDetail = { ...detail, statistics: statistics.statistics(id), explanation };
  return NextResponse.json(answer);
});
