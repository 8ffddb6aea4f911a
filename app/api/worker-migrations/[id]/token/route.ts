import { NextResponse } from "next/server";
import { handle } from "@/lib/http/api";
import { nodeContext } from "@/lib/kube/context";
import { revealToken } from "@/lib/kube/worker-migration";

export const dynamic = "force-dynamic";

/**
 * POST /api/worker-migrations/:id/token → RevealedToken `{ token, command }`. A POST (never a GET,
 * never in a URL) after an explicit reveal; the reveal is audited, the value never stored or logged.
 */
export const POST = handle(async (_req: Request, { params }: { params: Promise<{ id: string }> }) => {
  const { id } = await params;
  return NextResponse.json(revealToken(nodeContext(), id), { headers: { "cache-control": "no-store" } });
});
