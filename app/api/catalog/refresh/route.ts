import { NextResponse } from "next/server";
import { handle } from "@/lib/http/api";
import { catalogForRequest } from "@/lib/catalog/http";

export const dynamic = "force-dynamic";

/**
 * POST /api/catalog/refresh — lists the store now (joining a refresh already running) and answers
 * `{ outcome, status }` once done. A failed listing is 200 with `status.error` set: the cached view stays.
 */
export const POST = handle(async () => {
  const catalog = catalogForRequest();
  const outcome = await catalog.refresh();
  return NextResponse.json({ outcome, status: catalog.status() });
});
