import { NextResponse } from "next/server";
import { handle } from "@/lib/http/api";
import { restoreContext, startRestoreBackground } from "@/lib/restore";
import { activeRun, viewRun } from "@/lib/restore/wizard";

export const dynamic = "force-dynamic";

/** GET /api/restore/runs/current → `{ run: RestoreWizardView | null }`, the restore in progress. */
export const GET = handle(async () => {
  startRestoreBackground();
  const ctx = restoreContext();
  const run = activeRun(ctx);
  return NextResponse.json({ run: run ? await viewRun(ctx, run) : null });
});
