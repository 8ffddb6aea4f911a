import { NextResponse } from "next/server";
import { apiRoute, readQuery } from "@/lib/http/api-route";
import { requireAgent } from "@/lib/agent/configured";
import { TimelineQuery } from "@/lib/contracts/continuous";

export const dynamic = "force-dynamic";

/**
 * GET /api/agent/continuous/timeline?setId=<id|latest>[&segments=N] — the points a restore can reach
 * after that set (`LogTimeline`), which the agent reads from the log's segments: revisions, read
 * times, and the objects changed (names only, never values), with gaps where a segment is missing or damaged.
 */
export const GET = apiRoute({ access: "viewer" }, async (req) => {
  const q = readQuery(req, TimelineQuery);
  const timeline = await requireAgent("the dashboard cannot show the log's timeline").timeline(q);
  return NextResponse.json(timeline);
});
