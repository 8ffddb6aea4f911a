import { NextResponse } from "next/server";
import { apiRoute, readJson } from "@/lib/http/api-route";
import { notificationsChanged, notifier } from "@/lib/alerts";
import { NotificationPreferences } from "@/lib/contracts/alerts";

export const dynamic = "force-dynamic";

/** GET /api/settings/notifications → NotificationSettings: channels (secrets only as hints), reminders, the newest deliveries. */
export const GET = apiRoute({ access: "admin" }, async () => NextResponse.json(notifier().settings()));

/** PUT /api/settings/notifications { remindEveryHours } → NotificationSettings. */
export const PUT = apiRoute({ access: "admin" }, async (req) => {
  const prefs = await readJson(req, NotificationPreferences);
  notifier().setRemindEveryHours(prefs.remindEveryHours);
  notificationsChanged("preferences", null, prefs);
  return NextResponse.json(notifier().settings());
});
