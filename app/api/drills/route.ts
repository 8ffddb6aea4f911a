import { NextResponse } from "next/server";
import { handle } from "@/lib/http/api";
import { catalogForRequest } from "@/lib/catalog/http";
import { drillService } from "@/lib/restore";

export const dynamic = "force-dynamic";

/** GET /api/drills → DrillOverview: every recorded restore drill of the current store, the queue, and why drills wait. */
export const GET = handle(async () => {
  catalogForRequest();
  return NextResponse.json(drillService().overview());
});
