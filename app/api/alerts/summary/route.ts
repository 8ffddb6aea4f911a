import { NextResponse } from "next/server";
import { apiRoute } from "@/lib/http/api-route";
import { alertService } from "@/lib/alerts";

export const dynamic = "force-dynamic";

/** GET /api/alerts/summary → AlertSummary: how many alerts fire (the navigation's count). */
export const GET = apiRoute({ access: "viewer" }, async () => NextResponse.json(alertService().summary()));
