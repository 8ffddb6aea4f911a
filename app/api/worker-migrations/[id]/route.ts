import { NextResponse } from "next/server";
import { apiRoute, readJson, type Params } from "@/lib/http/api-route";
import { WorkerMigrationAction } from "@/lib/contracts/nodes";
import { nodeContext } from "@/lib/kube/context";
import { act, getRun, viewRun } from "@/lib/kube/worker-migration";

export const dynamic = "force-dynamic";

/** GET /api/worker-migrations/:id → WorkerMigrationView (live drain progress, join info, new-node candidates). */
export const GET = apiRoute<Params<{ id: string }>>({ access: "admin" }, async (_req, { params }) => {
  const { id } = await params;
  const ctx = nodeContext();
  return NextResponse.json(await viewRun(ctx, getRun(ctx, id)));
});

/** POST /api/worker-migrations/:id with a WorkerMigrationAction → the new view; 409 when not on that step. */
export const POST = apiRoute<Params<{ id: string }>>({ access: "admin" }, async (req, { params }) => {
  const { id } = await params;
  const action = await readJson(req, WorkerMigrationAction);
  const ctx = nodeContext();
  return NextResponse.json(await viewRun(ctx, await act(ctx, id, action)));
});
