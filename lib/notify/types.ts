import type { AlertName, AlertSeverity, ChannelSettings, ChannelType } from "../contracts/alerts";

/** What a channel is asked to send: an alert's firing/resolve/reminder, a dead-man's-switch heartbeat, or a test. */
export interface AlertMessage {
  kind: "alert";
  event: "firing" | "resolved" | "reminder";
  alert: AlertName;
  key: string;
  severity: AlertSeverity;
  summary: string;
  setId: string | null;
  node: string | null;
  /** Absolute link to the page that explains it. */
  url: string;
  startedAt: string;
  resolvedAt: string | null;
  /** Set when a firing alert's severity rose (warning → critical) and it is sent again. */
  escalatedFrom?: AlertSeverity;
}

/** After each successful backup and drill: "still alive" for a dead-man's switch (healthchecks.io style). */
export interface HeartbeatMessage {
  kind: "heartbeat";
  what: "backup" | "drill";
  setId: string;
  summary: string;
  url: string;
}

export interface TestMessage {
  kind: "test";
  summary: string;
  url: string;
  at: string;
}

export type Message = AlertMessage | HeartbeatMessage | TestMessage;

/** A configured channel with its secrets (server side only; the browser gets a ChannelView). */
export interface Channel {
  id: string;
  type: ChannelType;
  label: string;
  enabled: boolean;
  minSeverity: AlertSeverity;
  origin: "environment" | "settings";
  settings: ChannelSettings;
}

/** How one attempt went. `retryable`: another attempt may succeed (no answer, 408, 429, 5xx, SMTP 4xx). */
export interface AttemptResult {
  ok: boolean;
  status: number | null;
  detail: string | null;
  retryable: boolean;
  millis: number;
}
