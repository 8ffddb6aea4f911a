import { NextResponse } from "next/server";
import { handle, readJson } from "@/lib/http/api";
import { WorkerMigrationAction } from "@/lib/contracts/nodes";
import { nodeContext } from "@/lib/kube/context";
import { act, getRun, viewRun } from "@/lib/kube/worker-migration";

export const dynamic = "force-dynamic";
type Ctx = { params: Promise<{ id: string }> };

/** GET /api/worker-migrations/:id → WorkerMigrationView (live drain progress, join info, new-node candidates). */
export const GET = handle(async (_req: Request, { params }: Ctx) => {
  const { id } = await params;
  const ctx = nodeContext();
  return NextResponse.json(await viewRun(ctx, getRun(ctx, id)));
});

/** POST /api/worker-migrations/:id with a WorkerMigrationAction → the new view; 409 when not on that step. */
export const POST = handle(async (req: Request, { params }: Ctx) => {
  const { id } = await params;
  const action = await readJson(req, WorkerMigrationAction);
  const ctx = nodeContext();
  return NextResponse.json(await viewRun(ctx, await act(ctx, id, action)));
});
