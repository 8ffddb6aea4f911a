import { NextResponse } from "next/server";
import { apiRoute, readJson } from "@/lib/http/api-route";
import { notificationsChanged, notifier } from "@/lib/alerts";
import { ChannelInput } from "@/lib/contracts/alerts";

export const dynamic = "force-dynamic";

/** POST /api/settings/notifications/channels ChannelInput → 201 ChannelView. Alerts firing now are sent to it once. */
export const POST = apiRoute({ access: "admin" }, async (req) => {
  const input = await readJson(req, ChannelInput);
  const view = notifier().create(input);
  notificationsChanged("channel.create", view.label, { type: view.type, id: view.id });
  return NextResponse.json(view, { status: 201 });
});
