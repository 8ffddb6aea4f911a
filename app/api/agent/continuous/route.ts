import { NextResponse } from "next/server";
import { apiRoute } from "@/lib/http/api-route";
import { requireAgent } from "@/lib/agent/configured";

export const dynamic = "force-dynamic";

/** GET /api/agent/continuous — the agent's continuous-protection line (`ContinuousStatus`): protected up to N s ago, generation, segments, bytes. */
export const GET = apiRoute({ access: "viewer" }, async () => {
  const status = await requireAgent("the dashboard cannot show continuous protection").continuous();
  return NextResponse.json(status);
});
