import { NextResponse } from "next/server";
import { apiRoute, readJson } from "@/lib/http/api-route";
import { StartWorkerMigration } from "@/lib/contracts/nodes";
import { nodeContext } from "@/lib/kube/context";
import { startMigration, viewRun } from "@/lib/kube/worker-migration";

export const dynamic = "force-dynamic";

/** POST /api/worker-migrations `{ node }` → 201 WorkerMigrationView at the pre-check step; 409 if one is active. */
export const POST = apiRoute({ access: "admin" }, async (req) => {
  const { node } = await readJson(req, StartWorkerMigration);
  const ctx = nodeContext();
  const run = await startMigration(ctx, node);
  return NextResponse.json(await viewRun(ctx, run), { status: 201 });
});
