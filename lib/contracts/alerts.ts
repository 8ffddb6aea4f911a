import { z } from "zod";

/**
 * Alerts and notifications (issue 12): the dashboard's API shapes (`/api/alerts`, `/api/settings/notifications`)
 * and the names every part agrees on — the built-in rules (lib/alerts), the notification bodies (lib/notify), the
 * Prometheus rules (deploy/prometheus). Only zod here: the browser validates answers with the same schemas.
 */

const ts = z.string(); // ISO 8601

/** The stable name of every built-in alert; the Prometheus rules in deploy/prometheus use the same names. */
export const ALERT_NAMES = [
  "LifeboatBackupGrowth",
  "LifeboatBackupShrink",
  "LifeboatBackupGap",
  "LifeboatBackupStale",
  "LifeboatRestoreDrillFailed",
  "LifeboatBackupJobFailed",
  "LifeboatAgentUnreachable",
  "LifeboatAgentStateDirUnusable",
  "LifeboatDatabaseCheckFailed",
  "LifeboatOwnerModeDrift",
  "LifeboatCompactionLag",
  "LifeboatWalTooLarge",
  "LifeboatRestoreSpaceLow",
  "LifeboatCatalogUnavailable",
  "LifeboatLogLag",
  "LifeboatLogGrowth",
  "LifeboatLogShrink",
] as const;
export const AlertName = z.enum(ALERT_NAMES);
export type AlertName = z.infer<typeof AlertName>;

export const AlertSeverity = z.enum(["warning", "critical"]);
export type AlertSeverity = z.infer<typeof AlertSeverity>;

export const AlertState = z.enum(["firing", "resolved"]);
export type AlertState = z.infer<typeof AlertState>;

/** Where one notification of an alert went, and how it ended. */
export const DeliveryView = z.object({
  id: z.number().int(),
  at: ts,
  channelId: z.string(),
  channelLabel: z.string(),
  channelType: z.string(),
  /** firing, resolved, reminder (alerts); test; heartbeat (the dead-man's-switch ping). */
  event: z.string(),
  alertKey: z.string().nullable(),
  /** The alert episode it belongs to (AlertView.id); null for tests and heartbeats. */
  episodeId: z.number().int().nullable(),
  /** delivered; failed (gave up); retrying (another attempt is scheduled). */
  outcome: z.enum(["delivered", "failed", "retrying"]),
  attempt: z.number().int().positive(),
  /** HTTP status or SMTP reply code; null when nothing answered. */
  status: z.number().int().nullable(),
  /** What went wrong, in words (never a secret part of a URL, never a password). */
  detail: z.string().nullable(),
});
export type DeliveryView = z.infer<typeof DeliveryView>;

/** One episode of an alert: from the evaluation that found it firing to the one that found it resolved. */
export const AlertView = z.object({
  id: z.number().int(),
  /** The alert's identity: name and scope, e.g. `LifeboatBackupGrowth:file-archive`. */
  key: z.string(),
  name: AlertName,
  severity: AlertSeverity,
  state: AlertState,
  /** What is wrong, in words. */
  summary: z.string(),
  /** The backup set it concerns, when it concerns one. */
  setId: z.string().nullable(),
  /** The node (the agent's host) it concerns, when it concerns one. */
  node: z.string().nullable(),
  /** The dashboard page that explains it (a path, e.g. `/backups/seed-…`). */
  path: z.string(),
  startedAt: ts,
  updatedAt: ts,
  resolvedAt: ts.nullable(),
  deliveries: z.array(DeliveryView),
});
export type AlertView = z.infer<typeof AlertView>;

/** GET /api/alerts */
export const AlertsResponse = z.object({
  firing: z.array(AlertView),
  /** Resolved episodes, newest first. */
  history: z.array(AlertView),
  /** Enabled channels that receive alerts; 0 means "delivered nowhere". */
  channels: z.number().int().nonnegative(),
  /** When the rules were last evaluated; null before the first evaluation. */
  evaluatedAt: ts.nullable(),
});
export type AlertsResponse = z.infer<typeof AlertsResponse>;

/** GET /api/alerts/summary: the navigation's count. */
export const AlertSummary = z.object({ firing: z.number().int().nonnegative(), critical: z.number().int().nonnegative() });
export type AlertSummary = z.infer<typeof AlertSummary>;

// ---------------------------------------------------------------------------------------------
// Notification channels

export const CHANNEL_TYPES = ["webhook", "slack", "discord", "ntfy", "gotify", "email", "ping"] as const;
export const ChannelType = z.enum(CHANNEL_TYPES);
export type ChannelType = z.infer<typeof ChannelType>;

const httpUrl = z.url({ protocol: /^https?$/, message: "must be an http:// or https:// URL" });
const optSecret = z.string().trim().max(4096).optional();

/**
 * What a channel needs, by type. Secret fields (`url` of Slack/Discord/ntfy/ping, `secret`, `token`,
 * `password`) are never sent back in full: an empty value on update keeps the stored one.
 */
const CHANNEL_SHAPES = {
  webhook: { type: z.literal("webhook"), url: httpUrl.or(z.literal("")), secret: optSecret },
  slack: { type: z.literal("slack"), url: httpUrl.or(z.literal("")) },
  discord: { type: z.literal("discord"), url: httpUrl.or(z.literal("")) },
  /** ntfy: the topic's URL (`https://ntfy.sh/my-topic`), an access token when the server wants one. */
  ntfy: { type: z.literal("ntfy"), url: httpUrl.or(z.literal("")), token: optSecret },
  /** Gotify: the server's URL and an application token. */
  gotify: { type: z.literal("gotify"), url: httpUrl, token: optSecret },
  email: {
    type: z.literal("email"),
    host: z.string().trim().min(1, "the SMTP server's host name is required").max(255),
    port: z.number().int().min(1).max(65535),
    /** none: plain SMTP (a relay on the same host); starttls: upgrade (port 587); tls: TLS from the start (port 465). */
    security: z.enum(["none", "starttls", "tls"]),
    username: z.string().trim().max(255).optional(),
    password: optSecret,
    from: z.email({ message: "must be an e-mail address" }),
    to: z.string().trim().min(3, "at least one recipient is required").max(2000),
  },
  /** A dead-man's-switch URL (healthchecks.io style), called after each successful backup and drill. */
  ping: { type: z.literal("ping"), url: httpUrl.or(z.literal("")) },
};

/** A channel's settings as stored (lifeboat.db) and as the environment gives them. */
export const ChannelSettings = z.discriminatedUnion("type", [
  z.object(CHANNEL_SHAPES.webhook),
  z.object(CHANNEL_SHAPES.slack),
  z.object(CHANNEL_SHAPES.discord),
  z.object(CHANNEL_SHAPES.ntfy),
  z.object(CHANNEL_SHAPES.gotify),
  z.object(CHANNEL_SHAPES.email),
  z.object(CHANNEL_SHAPES.ping),
]);
export type ChannelSettings = z.infer<typeof ChannelSettings>;

/**
 * POST /api/settings/notifications/channels, PUT …/channels/:id. Unknown fields are refused (400),
 * in the settings too: a mistyped `secret` or `password` is never dropped in silence.
 */
export const ChannelInput = z.strictObject({
  label: z.string().trim().min(1, "give the channel a name").max(80),
  enabled: z.boolean().default(true),
  /** The lowest severity sent (alerts only). */
  minSeverity: AlertSeverity.default("warning"),
  settings: z.discriminatedUnion("type", [
    z.strictObject(CHANNEL_SHAPES.webhook),
    z.strictObject(CHANNEL_SHAPES.slack),
    z.strictObject(CHANNEL_SHAPES.discord),
    z.strictObject(CHANNEL_SHAPES.ntfy),
    z.strictObject(CHANNEL_SHAPES.gotify),
    z.strictObject(CHANNEL_SHAPES.email),
    z.strictObject(CHANNEL_SHAPES.ping),
  ]),
});
export type ChannelInput = z.input<typeof ChannelInput>;

/** A channel as the browser sees it: secrets only as hints (`…a1b2`), `has*` saying whether one is stored. */
export const ChannelView = z.object({
  id: z.string(),
  type: ChannelType,
  label: z.string(),
  enabled: z.boolean(),
  minSeverity: AlertSeverity,
  /** "environment": set by LIFEBOAT_* variables, shown read-only; "settings": made on this page. */
  origin: z.enum(["environment", "settings"]),
  /** Where it sends, without its secret parts, e.g. `https://hooks.slack.com/…/…x9Qz`. */
  target: z.string(),
  /** The non-secret settings (email host, port, security, from, to, username). */
  fields: z.record(z.string(), z.union([z.string(), z.number()])),
  /** Which secrets are stored (the values never leave the server). */
  secrets: z.record(z.string(), z.boolean()),
  lastDelivery: DeliveryView.nullable(),
});
export type ChannelView = z.infer<typeof ChannelView>;

/** GET /api/settings/notifications */
export const NotificationSettings = z.object({
  channels: z.array(ChannelView),
  /** Hours between reminders while an alert keeps firing; 0: no reminders. */
  remindEveryHours: z.number().nonnegative(),
  /** Where links in notifications point (LIFEBOAT_PUBLIC_URL). */
  publicUrl: z.string(),
  deliveries: z.array(DeliveryView),
});
export type NotificationSettings = z.infer<typeof NotificationSettings>;

/** PUT /api/settings/notifications. Unknown fields are refused (400). */
export const NotificationPreferences = z.strictObject({
  // Whole hours: a fraction (0.001) would remind at every alert evaluation.
  remindEveryHours: z
    .number()
    .int("Reminders are every whole number of hours (0: never).")
    .min(0)
    .max(24 * 30),
});
export type NotificationPreferences = z.infer<typeof NotificationPreferences>;

/** POST /api/settings/notifications/channels/:id/test: one attempt, answered with how it went. */
export const TestResult = z.object({ ok: z.boolean(), status: z.number().int().nullable(), detail: z.string().nullable(), millis: z.number().nonnegative() });
export type TestResult = z.infer<typeof TestResult>;
