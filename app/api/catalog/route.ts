import { NextResponse } from "next/server";
import { apiRoute } from "@/lib/http/api-route";
import { catalogService } from "@/lib/catalog";

export const dynamic = "force-dynamic";

/** GET /api/catalog — how fresh the cached listing is (CatalogStatus). Starts a refresh when it is due. */
export const GET = apiRoute({ access: "viewer" }, async () => {
  const catalog = catalogService();
  await catalog.ensureLoaded();
  return NextResponse.json(catalog.status());
});
