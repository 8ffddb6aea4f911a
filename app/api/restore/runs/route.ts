import { NextResponse } from "next/server";
import { apiRoute } from "@/lib/http/api-route";
import { restoreContext, startRestoreBackground } from "@/lib/restore";
import { startRun, viewRun } from "@/lib/restore/wizard";

export const dynamic = "force-dynamic";

/** POST /api/restore/runs → 201 RestoreWizardView at step 1 ("Where"); 409 `restore_active` when one is in progress. */
export const POST = apiRoute({ access: "admin" }, async () => {
  startRestoreBackground();
  const ctx = restoreContext();
  const run = startRun(ctx);
  return NextResponse.json(await viewRun(ctx, run, { refresh: false }), { status: 201 });
});
