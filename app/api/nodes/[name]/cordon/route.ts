import { NextResponse } from "next/server";
import { apiRoute, type Params } from "@/lib/http/api-route";
import { nodeContext } from "@/lib/kube/context";
import { cordonNode } from "@/lib/kube/node-service";

export const dynamic = "force-dynamic";

/** POST /api/nodes/:name/cordon → NodeActionResult (like `kubectl cordon`). */
export const POST = apiRoute<Params<{ name: string }>>({ access: "operator" }, async (_req, { params }) => {
  const { name } = await params;
  return NextResponse.json(await cordonNode(nodeContext(), name));
});
