import { NextResponse } from "next/server";
import { apiRoute, readJson, type Params } from "@/lib/http/api-route";
import { DomainError } from "@/lib/contracts/errors";
import { DeleteNodeRequest } from "@/lib/contracts/nodes";
import { nodeContext } from "@/lib/kube/context";
import { deleteNodeObject, fetchNodeDetail } from "@/lib/kube/node-service";

export const dynamic = "force-dynamic";

/** GET /api/nodes/:name → NodeDetail (conditions, taints, labels, pods); 404 when the node is gone. */
export const GET = apiRoute<Params<{ name: string }>>({ access: "viewer" }, async (_req, { params }) => {
  const { name } = await params;
  return NextResponse.json(await fetchNodeDetail(nodeContext(), name));
});

/** DELETE /api/nodes/:name with `{ confirm: "<name>" }` → NodeActionResult. The typed name guards against a slip. */
export const DELETE = apiRoute<Params<{ name: string }>>({ access: "admin" }, async (req, { params }) => {
  const { name } = await params;
  const body = await readJson(req, DeleteNodeRequest);
  if (body.confirm !== name) throw new DomainError("confirm_mismatch", `Type the node's name, ${name}, exactly to delete it.`);
  return NextResponse.json(await deleteNodeObject(nodeContext(), name));
});
