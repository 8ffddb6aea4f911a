import { NextResponse } from "next/server";
import { ApiError, handle } from "@/lib/http/api";
import { catalogForRequest } from "@/lib/catalog/http";
import { drillService } from "@/lib/restore";
import { audit } from "@/lib/db/database";
import { serverContext } from "@/lib/server/context";

export const dynamic = "force-dynamic";
type Ctx = { params: Promise<{ id: string }> };

/** GET /api/backups/:id/verify → `{ drill: DrillRecord | null }`, the set's restore drill. */
export const GET = handle(async (_req: Request, { params }: Ctx) => {
  const { id } = await params;
  catalogForRequest();
  return NextResponse.json({ drill: drillService().get(id) });
});

/**
 * POST /api/backups/:id/verify ("Verify now") → 202 `{ drill }`: queues a restore drill of the set
 * ahead of automatic ones. 404 for an unknown set, 503 when no agent is configured.
 */
export const POST = handle(async (_req: Request, { params }: Ctx) => {
  const { id } = await params;
  const catalog = catalogForRequest();
  await catalog.ensureLoaded();
  if (!catalog.findSet(id)) throw new ApiError(404, "not_found", `No backup set ${id} in ${catalog.source} (as of the last refresh).`);
  const drills = drillService();
  if (!drills.overview().enabled)
    throw new ApiError(503, "no_agent", "No agent is configured, so backups cannot be verified. Set LIFEBOAT_AGENT_URL and LIFEBOAT_AGENT_TOKEN (the agent runs on the k3s server: `lifeboat-agent serve`).");
  const drill = drills.request(id);
  audit(serverContext().db, "drill.request", id, "queued", { state: drill.state });
  return NextResponse.json({ drill }, { status: 202 });
});
