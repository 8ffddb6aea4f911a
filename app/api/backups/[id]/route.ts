import { NextResponse } from "next/server";
import { handle, ApiError } from "@/lib/http/api";
import { catalogForRequest } from "@/lib/catalog/http";

export const dynamic = "force-dynamic";

/** GET /api/backups/:id — one set with its anomalies, neighbours and manifest (CatalogSetDetail); 404 when unknown. */
export const GET = handle(async (_req: Request, ctx: { params: Promise<{ id: string }> }) => {
  const { id } = await ctx.params;
  const catalog = catalogForRequest();
  await catalog.ensureLoaded();
  const detail = await catalog.detail(id);
  if (!detail) throw new ApiError(404, "not_found", `No backup set ${id} in ${catalog.source} (as of the last refresh).`);
  return NextResponse.json(detail);
});
