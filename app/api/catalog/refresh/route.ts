import { NextResponse } from "next/server";
import { apiRoute } from "@/lib/http/api-route";
import { catalogService } from "@/lib/catalog";
import { audit } from "@/lib/db/database";
import { serverContext } from "@/lib/server/context";

export const dynamic = "force-dynamic";

/**
 * POST /api/catalog/refresh — lists the store now (joining a refresh already running) and answers
 * `{ outcome, status }` once done. A failed listing is 200 with `status.error` set: the cached view stays.
 */
export const POST = apiRoute({ access: "operator" }, async () => {
  const catalog = catalogService();
  // The Refresh button: a full listing, which also reconciles deletions and stray objects.
  const outcome = await catalog.refresh({ full: true });
  audit(serverContext().db, "catalog.refresh", catalog.source, outcome.ok ? "ok" : "failed");
  return NextResponse.json({ outcome, status: catalog.status() });
});
