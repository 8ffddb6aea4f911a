import { queryOptions } from "@tanstack/react-query";
import { z } from "zod";
import { apiFetch, jsonBody } from "@/lib/client/api-fetch";
import { ChannelView, NotificationSettings, TestResult, type ChannelInput, type NotificationPreferences } from "@/lib/contracts/alerts";

/** The browser's side of Settings → Notifications: one query, the channel actions and "Send a test". */

export const settingsKeys = {
  all: ["settings"] as const,
  notifications: () => [...settingsKeys.all, "notifications"] as const,
};

export const notificationSettingsQuery = () =>
  queryOptions({
    queryKey: settingsKeys.notifications(),
    queryFn: ({ signal }) => apiFetch("/api/settings/notifications", NotificationSettings, { signal }),
    refetchInterval: 15_000,
  });

const channelUrl = (id: string) => `/api/settings/notifications/channels/${encodeURIComponent(id)}`;

export const notificationActions = {
  create: (input: ChannelInput) => apiFetch("/api/settings/notifications/channels", ChannelView, jsonBody(input)),
  update: (id: string, input: ChannelInput) => apiFetch(channelUrl(id), ChannelView, jsonBody(input, "PUT")),
  /** 204 without a body. */
  remove: (id: string) => apiFetch(channelUrl(id), z.undefined(), { method: "DELETE" }),
  test: (id: string) => apiFetch(`${channelUrl(id)}/test`, TestResult, jsonBody({})),
  preferences: (prefs: NotificationPreferences) => apiFetch("/api/settings/notifications", NotificationSettings, jsonBody(prefs, "PUT")),
};
