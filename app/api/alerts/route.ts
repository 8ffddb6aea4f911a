import { NextResponse } from "next/server";
import { apiRoute } from "@/lib/http/api-route";
import { alertService } from "@/lib/alerts";

export const dynamic = "force-dynamic";

/** GET /api/alerts → AlertsResponse: alerts firing now (critical first), the newest resolved ones, where each was delivered. */
export const GET = apiRoute({ access: "viewer" }, async () => NextResponse.json(alertService().response()));
