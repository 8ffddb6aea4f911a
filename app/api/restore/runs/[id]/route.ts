import { NextResponse } from "next/server";
import { apiRoute, readJson, type Params } from "@/lib/http/api-route";
import { restoreContext, startRestoreBackground } from "@/lib/restore";
import { RestoreWizardAction } from "@/lib/restore/contracts";
import { act, getRun, viewRun } from "@/lib/restore/wizard";

export const dynamic = "force-dynamic";

/** GET /api/restore/runs/:id → RestoreWizardView, brought up to date with the agent (restore record, job progress). */
export const GET = apiRoute<Params<{ id: string }>>({ access: "admin" }, async (_req, { params }) => {
  const { id } = await params;
  startRestoreBackground();
  const ctx = restoreContext();
  return NextResponse.json(await viewRun(ctx, getRun(ctx, id)));
});

/** POST /api/restore/runs/:id with a RestoreWizardAction → the new view; 409 when the action does not fit the step. */
export const POST = apiRoute<Params<{ id: string }>>({ access: "admin" }, async (req, { params }) => {
  const { id } = await params;
  const action = await readJson(req, RestoreWizardAction);
  const ctx = restoreContext();
  const run = await act(ctx, id, action);
  return NextResponse.json(await viewRun(ctx, run));
});
