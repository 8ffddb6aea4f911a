import { NextResponse } from "next/server";
import { apiRoute } from "@/lib/http/api-route";
import { catalogService } from "@/lib/catalog";
import { drillService } from "@/lib/restore";

export const dynamic = "force-dynamic";

/** GET /api/drills → DrillOverview: every recorded restore drill of the current store, the queue, and why drills wait. */
export const GET = apiRoute({ access: "viewer" }, async () => {
  catalogService(); // a configuration error answers 500 `config` naming the variable
  return NextResponse.json(drillService().overview());
});
