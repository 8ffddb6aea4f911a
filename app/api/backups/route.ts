import { NextResponse } from "next/server";
import { z } from "zod";
import { apiRoute, readQuery } from "@/lib/http/api-route";
import { queryInt } from "@/lib/contracts/query";
import { catalogService } from "@/lib/catalog";
import { CatalogFilter } from "@/lib/contracts/catalog";
import { startRestoreBackground } from "@/lib/restore";

export const dynamic = "force-dynamic";

const Query = z.object({
  flag: CatalogFilter.default("all"),
  offset: queryInt(0, Number.MAX_SAFE_INTEGER).default(0),
  limit: queryInt(1, 100_000).optional(),
});

/**
 * GET /api/backups[?flag=critical&offset=0&limit=50]: the catalog (CatalogResponse), newest first;
 * all sets unless `limit`. On a cold dashboard it waits for the first listing (up to 2 min), so
 * scripts get the whole catalog; `refreshedAt: null` means no listing has succeeded yet.
 */
export const GET = apiRoute({ access: "viewer" }, async (req) => {
  const q = readQuery(req, Query);
  const catalog = catalogService();
  await catalog.ensureLoaded({ waitMs: 120_000 });
  // Restore drills of new sets start with the dashboard's first catalog request (npm start makes one).
  startRestoreBackground();
  return NextResponse.json(catalog.response({ flag: q.flag, offset: q.offset, limit: q.limit ?? null }));
});
