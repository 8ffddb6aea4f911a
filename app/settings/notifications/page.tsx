import type { Metadata } from "next";
import { NotificationsSettings } from "@/components/settings/notifications-settings";

export const metadata: Metadata = { title: "Notifications" };

/** Settings → Notifications (admin once accounts exist: its API routes declare it). */
export default function Page() {
  return <NotificationsSettings />;
}
