import { NextResponse } from "next/server";
import { apiRoute } from "@/lib/http/api-route";
import { nodeContext } from "@/lib/kube/context";
import { activeRun, viewRun } from "@/lib/kube/worker-migration";

export const dynamic = "force-dynamic";

/** GET /api/worker-migrations/current → `{ run: WorkerMigrationView | null }`, the migration in progress. */
export const GET = apiRoute({ access: "admin" }, async () => {
  const ctx = nodeContext();
  const run = activeRun(ctx);
  return NextResponse.json({ run: run ? await viewRun(ctx, run) : null });
});
