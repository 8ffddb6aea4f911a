import { NextResponse } from "next/server";
import { apiRoute, type Params } from "@/lib/http/api-route";
import { noAgentError } from "@/lib/agent/configured";
import { catalogService } from "@/lib/catalog";
import { DomainError } from "@/lib/contracts/errors";
import { drillService } from "@/lib/restore";
import { audit } from "@/lib/db/database";
import { serverContext } from "@/lib/server/context";

export const dynamic = "force-dynamic";

/** GET /api/backups/:id/verify → `{ drill: DrillRecord | null }`, the set's restore drill. */
export const GET = apiRoute<Params<{ id: string }>>({ access: "viewer" }, async (_req, { params }) => {
  const { id } = await params;
  catalogService(); // a configuration error answers 500 `config` naming the variable
  return NextResponse.json({ drill: drillService().get(id) });
});

/**
 * POST /api/backups/:id/verify ("Verify now") → 202 `{ drill }`: queues a restore drill of the set
 * ahead of automatic ones. 404 for an unknown set, 503 when no agent is configured.
 */
export const POST = apiRoute<Params<{ id: string }>>({ access: "operator" }, async (_req, { params }) => {
  const { id } = await params;
  const catalog = catalogService();
  await catalog.ensureLoaded();
  if (!catalog.findSet(id)) throw new DomainError("not_found", `No backup set ${id} in ${catalog.source} (as of the last refresh).`);
  const drills = drillService();
  if (!drills.overview().enabled) throw noAgentError("backups cannot be verified");
  const drill = drills.request(id);
  audit(serverContext().db, "drill.request", id, "queued", { state: drill.state });
  return NextResponse.json({ drill }, { status: 202 });
});
