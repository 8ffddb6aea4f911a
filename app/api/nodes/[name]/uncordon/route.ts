import { NextResponse } from "next/server";
import { handle } from "@/lib/http/api";
import { nodeContext } from "@/lib/kube/context";
import { kubeRoute } from "@/lib/kube/http";
import { uncordonNode } from "@/lib/kube/node-service";

export const dynamic = "force-dynamic";

/** POST /api/nodes/:name/uncordon → NodeActionResult (like `kubectl uncordon`). */
export const POST = handle(async (_req: Request, { params }: { params: Promise<{ name: string }> }) => {
  const { name } = await params;
  return NextResponse.json(await kubeRoute(() => uncordonNode(nodeContext(), name)));
});
