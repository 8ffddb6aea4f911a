import { NextResponse } from "next/server";
import { ApiError, handle, readJson } from "@/lib/http/api";
import { DeleteNodeRequest } from "@/lib/contracts/nodes";
import { nodeContext } from "@/lib/kube/context";
import { kubeRoute } from "@/lib/kube/http";
import { deleteNodeObject, fetchNodeDetail } from "@/lib/kube/node-service";

export const dynamic = "force-dynamic";
type Ctx = { params: Promise<{ name: string }> };

/** GET /api/nodes/:name → NodeDetail (conditions, taints, labels, pods); 404 when the node is gone. */
export const GET = handle(async (_req: Request, { params }: Ctx) => {
  const { name } = await params;
  return NextResponse.json(await kubeRoute(() => fetchNodeDetail(nodeContext(), name)));
});

/** DELETE /api/nodes/:name with `{ confirm: "<name>" }` → NodeActionResult. The typed name guards against a slip. */
export const DELETE = handle(async (req: Request, { params }: Ctx) => {
  const { name } = await params;
  const body = await readJson(req, DeleteNodeRequest);
  if (body.confirm !== name) throw new ApiError(400, "confirm_mismatch", `Type the node's name, ${name}, exactly to delete it.`);
  return NextResponse.json(await kubeRoute(() => deleteNodeObject(nodeContext(), name)));
});
