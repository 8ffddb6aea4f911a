import { NextResponse } from "next/server";
import { handle, readJson } from "@/lib/http/api";
import { restoreContext, startRestoreBackground } from "@/lib/restore";
import { RestoreWizardAction } from "@/lib/restore/contracts";
import { act, getRun, viewRun } from "@/lib/restore/wizard";

export const dynamic = "force-dynamic";
type Ctx = { params: Promise<{ id: string }> };

/** GET /api/restore/runs/:id → RestoreWizardView, brought up to date with the agent (restore record, job progress). */
export const GET = handle(async (_req: Request, { params }: Ctx) => {
  const { id } = await params;
  startRestoreBackground();
  const ctx = restoreContext();
  return NextResponse.json(await viewRun(ctx, getRun(ctx, id)));
});

/** POST /api/restore/runs/:id with a RestoreWizardAction → the new view; 409 when the action does not fit the step. */
export const POST = handle(async (req: Request, { params }: Ctx) => {
  const { id } = await params;
  const action = await readJson(req, RestoreWizardAction);
  const ctx = restoreContext();
  const run = await act(ctx, id, action);
  return NextResponse.json(await viewRun(ctx, run));
});
