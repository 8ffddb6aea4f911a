import { NextResponse } from "next/server";
import { handle } from "@/lib/http/api";
import { catalogForRequest } from "@/lib/catalog/http";

export const dynamic = "force-dynamic";

/** GET /api/catalog — how fresh the cached listing is (CatalogStatus). Starts a refresh when it is due. */
export const GET = handle(async () => {
  const catalog = catalogForRequest();
  await catalog.ensureLoaded();
  return NextResponse.json(catalog.status());
});
