import { NextResponse } from "next/server";
import { apiRoute, type Params } from "@/lib/http/api-route";
import { nodeContext } from "@/lib/kube/context";
import { demoJoin } from "@/lib/kube/demo-join";
import { viewRun } from "@/lib/kube/worker-migration";

export const dynamic = "force-dynamic";

/** POST /api/worker-migrations/:id/demo-join → WorkerMigrationView: on the demo cluster only, a new node registers and the run waits for it. */
export const POST = apiRoute<Params<{ id: string }>>({ access: "admin" }, async (_req, { params }) => {
  const { id } = await params;
  const ctx = nodeContext();
  return NextResponse.json(await viewRun(ctx, await demoJoin(ctx, id)));
});
