import { NextResponse } from "next/server";
import { z } from "zod";
import { handle } from "@/lib/http/api";
import { catalogForRequest } from "@/lib/catalog/http";
import { CatalogFilter } from "@/lib/contracts/catalog";

export const dynamic = "force-dynamic";

const Query = z.object({
  flag: CatalogFilter.default("all"),
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(100_000).optional(),
});

/** GET /api/backups[?flag=critical&offset=0&limit=50]: the catalog (CatalogResponse), newest first; all sets unless `limit`. */
export const GET = handle(async (req: Request) => {
  const q = Query.parse(Object.fromEntries(new URL(req.url).searchParams));
  const catalog = catalogForRequest();
  await catalog.ensureLoaded();
  return NextResponse.json(catalog.response({ flag: q.flag, offset: q.offset, limit: q.limit ?? null }));
});
