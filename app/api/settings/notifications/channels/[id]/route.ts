import { NextResponse } from "next/server";
import { apiRoute, readJson, type Params } from "@/lib/http/api-route";
import { notificationsChanged, notifier } from "@/lib/alerts";
import { ChannelInput } from "@/lib/contracts/alerts";

export const dynamic = "force-dynamic";

/** PUT /api/settings/notifications/channels/:id ChannelInput → ChannelView. Empty secret fields keep the stored ones. */
export const PUT = apiRoute<Params<{ id: string }>>({ access: "admin" }, async (req, { params }) => {
  const { id } = await params;
  const view = notifier().update(id, await readJson(req, ChannelInput));
  notificationsChanged("channel.update", view.label, { type: view.type, id, enabled: view.enabled });
  return NextResponse.json(view);
});

/** DELETE /api/settings/notifications/channels/:id → 204; what it still had to send is dropped. */
export const DELETE = apiRoute<Params<{ id: string }>>({ access: "admin" }, async (_req, { params }) => {
  const { id } = await params;
  notifier().remove(id);
  notificationsChanged("channel.delete", id);
  return new Response(null, { status: 204 });
});
