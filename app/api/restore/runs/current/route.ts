import { NextResponse } from "next/server";
import { apiRoute } from "@/lib/http/api-route";
import { restoreContext, startRestoreBackground } from "@/lib/restore";
import { activeRun, viewRun } from "@/lib/restore/wizard";

export const dynamic = "force-dynamic";

/** GET /api/restore/runs/current → `{ run: RestoreWizardView | null }`, the restore in progress. */
export const GET = apiRoute({ access: "admin" }, async () => {
  startRestoreBackground();
  const ctx = restoreContext();
  const run = activeRun(ctx);
  return NextResponse.json({ run: run ? await viewRun(ctx, run) : null });
});
