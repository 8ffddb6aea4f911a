import { NextResponse } from "next/server";
import { apiRoute, type Params } from "@/lib/http/api-route";
import { notifier } from "@/lib/alerts";

export const dynamic = "force-dynamic";

/** POST /api/settings/notifications/channels/:id/test → TestResult: one attempt now, answered with how it went (200 either way). */
export const POST = apiRoute<Params<{ id: string }>>({ access: "admin" }, async (_req, { params }) => {
  const { id } = await params;
  return NextResponse.json(await notifier().test(id));
});
