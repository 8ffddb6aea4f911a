import { NextResponse } from "next/server";
import { z } from "zod";
import { apiRoute, readQuery } from "@/lib/http/api-route";
import { queryInt } from "@/lib/contracts/query";
import { catalogService } from "@/lib/catalog";
import { restoreContext, startRestoreBackground } from "@/lib/restore";
import { restoreCandidates } from "@/lib/restore/wizard";

export const dynamic = "force-dynamic";

const Query = z.object({
  offset: queryInt(0, Number.MAX_SAFE_INTEGER).default(0),
  limit: queryInt(1, 200).default(20),
});

/** GET /api/restore/candidates[?offset=&limit=] → RestoreCandidates: sets newest first with verification, flags, statistics, and the proposal. */
export const GET = apiRoute({ access: "admin" }, async (req) => {
  const q = readQuery(req, Query);
  const catalog = catalogService();
  await catalog.ensureLoaded();
  startRestoreBackground();
  const result = await restoreCandidates(restoreContext(), q);
  return NextResponse.json({ ...result, refreshedAt: catalog.status().refreshedAt });
});
