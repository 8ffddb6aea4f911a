import { NextResponse } from "next/server";
import { apiRoute, type Params } from "@/lib/http/api-route";
import { catalogService } from "@/lib/catalog";
import { DomainError } from "@/lib/contracts/errors";

export const dynamic = "force-dynamic";

/** GET /api/backups/:id — one set with its anomalies, neighbours and manifest (CatalogSetDetail); 404 when unknown. */
export const GET = apiRoute<Params<{ id: string }>>({ access: "viewer" }, async (_req, { params }) => {
  const { id } = await params;
  const catalog = catalogService();
  await catalog.ensureLoaded();
  const detail = await catalog.detail(id);
  if (!detail) throw new DomainError("not_found", `No backup set ${id} in ${catalog.source} (as of the last refresh).`);
  return NextResponse.json(detail);
});
