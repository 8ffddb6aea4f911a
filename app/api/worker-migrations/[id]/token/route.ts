import { NextResponse } from "next/server";
import { apiRoute, type Params } from "@/lib/http/api-route";
import { nodeContext } from "@/lib/kube/context";
import { revealToken } from "@/lib/kube/worker-migration";

export const dynamic = "force-dynamic";

/**
 * POST /api/worker-migrations/:id/token → RevealedToken `{ token, command }`. A POST (never a GET,
 * never in a URL) after an explicit reveal; the reveal is audited, the value never stored or logged.
 */
export const POST = apiRoute<Params<{ id: string }>>({ access: "admin" }, async (_req, { params }) => {
  const { id } = await params;
  return NextResponse.json(revealToken(nodeContext(), id), { headers: { "cache-control": "no-store" } });
});
