import { createHmac } from "node:crypto";
import { ALERT_DESCRIPTIONS } from "../alerts/rules/descriptions";
import type { ChannelSettings } from "../contracts/alerts";
import type { Message } from "./types";

/**
 * What each channel type sends, as plain request descriptions (no I/O here: lib/notify/send.ts sends
 * them). The generic webhook's JSON is the contract other tools build on: `alert`, `severity`,
 * `state`, `setId` (when a backup set is concerned), `summary`, `url`, signed with HMAC-SHA256 in
 * `X-Lifeboat-Signature: sha256=<hex>` over the exact body when a secret is set.
 */

export interface HttpRequestSpec {
  method: "GET" | "POST";
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export interface MailSpec {
  subject: string;
  text: string;
}

/** The header that carries the generic webhook's signature. */
export const SIGNATURE_HEADER = "x-lifeboat-signature";

/** `sha256=<hex>` of `body` with `secret`: what a receiver recomputes to trust a generic webhook. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

const UA = { "user-agent": "Lifeboat (k3s SQLite backups)" };
const json = (body: unknown) => ({ body: JSON.stringify(body), headers: { ...UA, "content-type": "application/json" } });

/** The one-line title every channel leads with, e.g. `FIRING · critical · Backups grew (LifeboatBackupGrowth)`. */
export function title(m: Message): string {
  if (m.kind === "test") return "Test notification from Lifeboat";
  if (m.kind === "heartbeat") return `Lifeboat: ${m.what} succeeded`;
  const state = m.event === "resolved" ? "RESOLVED" : m.event === "reminder" ? "STILL FIRING" : m.escalatedFrom ? "ESCALATED" : "FIRING";
  return `${state} · ${m.severity} · ${ALERT_DESCRIPTIONS[m.alert].title} (${m.alert})`;
}

/** The body text every text channel sends: the summary, then where and since when. */
export function text(m: Message): string {
  if (m.kind !== "alert") return m.summary;
  const lines = [m.summary];
  if (m.setId) lines.push(`Backup set: ${m.setId}`);
  if (m.node) lines.push(`Node: ${m.node}`);
  lines.push(m.event === "resolved" && m.resolvedAt ? `Firing from ${m.startedAt} to ${m.resolvedAt}` : `Firing since ${m.startedAt}`);
  return lines.join("\n");
}

/** The generic webhook's JSON body (the issue's fields first; more may be added, never renamed). */
export function webhookBody(m: Message): Record<string, unknown> {
  if (m.kind === "test") return { alert: "LifeboatTest", severity: "warning", state: "firing", summary: m.summary, url: m.url, test: true };
  if (m.kind === "heartbeat") return { alert: "LifeboatHeartbeat", severity: "warning", state: "resolved", setId: m.setId, summary: m.summary, url: m.url };
  return {
    alert: m.alert,
    severity: m.severity,
    state: m.event === "resolved" ? "resolved" : "firing",
    ...(m.setId ? { setId: m.setId } : {}),
    summary: m.summary,
    url: m.url,
    key: m.key,
    node: m.node,
    startedAt: m.startedAt,
    resolvedAt: m.resolvedAt,
    reminder: m.event === "reminder",
    ...(m.escalatedFrom ? { escalatedFrom: m.escalatedFrom } : {}),
  };
}

const slackEscape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const COLORS = { critical: 0xd92d20, warning: 0xf79009, resolved: 0x12b76a, info: 0x2e90fa };
function color(m: Message): number {
  if (m.kind !== "alert") return COLORS.info;
  return m.event === "resolved" ? COLORS.resolved : COLORS[m.severity];
}
const EMOJI = (m: Message) => (m.kind !== "alert" ? "ℹ️" : m.event === "resolved" ? "✅" : m.severity === "critical" ? "🔴" : "🟠");

/** ntfy priorities (1–5) and Gotify priorities (0–10): critical alerts loudest, resolves quiet. */
function priority(m: Message, scale: "ntfy" | "gotify"): number {
  const level = m.kind !== "alert" ? 1 : m.event === "resolved" ? 0 : m.severity === "critical" ? 2 : 1;
  return scale === "ntfy" ? [2, 4, 5][level] : [2, 5, 8][level];
}

/** `url` without its user info (`https://user:pass@host/…` → `https://host/…`); unchanged when it has none or is not a URL. */
export function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = "";
    u.password = "";
    return u.toString();
  } catch {
    return url;
  }
}

/**
 * The HTTP request a channel sends for `m`. A URL with user info (`https://user:pass@host/hook`) is
 * sent without it, as `Authorization: Basic` (fetch refuses URLs with credentials); a channel's own
 * Authorization (ntfy's token) wins. Throws for an e-mail channel (use mailFor), or a URL that does not parse.
 */
export function requestFor(settings: ChannelSettings, m: Message): HttpRequestSpec {
  const spec = request(settings, m);
  if (!("url" in settings)) return spec;
  const u = new URL(settings.url);
  if (!u.username && !u.password) return spec;
  const basic = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString("base64")}`;
  const own = Object.keys(spec.headers).some((h) => h.toLowerCase() === "authorization");
  return { ...spec, url: withoutCredentials(spec.url), headers: own ? spec.headers : { ...spec.headers, authorization: basic } };
}

function request(settings: ChannelSettings, m: Message): HttpRequestSpec {
  switch (settings.type) {
    case "webhook": {
      const { body, headers } = json(webhookBody(m));
      const signed: Record<string, string> = settings.secret ? { [SIGNATURE_HEADER]: signature(settings.secret, body) } : {};
      return { method: "POST", url: settings.url, headers: { ...headers, ...signed }, body };
    }
    case "slack": {
      const link = m.kind === "heartbeat" ? "" : `\n<${m.url}|Open in Lifeboat>`;
      return { method: "POST", url: settings.url, ...json({ text: `${EMOJI(m)} *${slackEscape(title(m))}*\n${slackEscape(text(m))}${link}` }) };
    }
    case "discord":
      return {
        method: "POST",
        url: settings.url,
        ...json({
          username: "Lifeboat",
          embeds: [
            {
              title: title(m).slice(0, 256),
              description: text(m).slice(0, 4000),
              url: m.url,
              color: color(m),
              ...(m.kind === "alert" ? { timestamp: m.resolvedAt ?? m.startedAt } : {}),
            },
          ],
        }),
      };
    case "ntfy": {
      // JSON publishing (to the server's root, topic in the body): titles in any script, no header encoding.
      const u = new URL(settings.url);
      const topic = decodeURIComponent(u.pathname.replace(/^\/+|\/+$/g, ""));
      const root = `${u.protocol}//${u.host}/`;
      const auth: Record<string, string> = settings.token ? { authorization: `Bearer ${settings.token}` } : {};
      const { body, headers } = json({
        topic,
        title: title(m),
        message: text(m),
        priority: priority(m, "ntfy"),
        tags: [
          m.kind === "alert" ? (m.event === "resolved" ? "white_check_mark" : m.severity === "critical" ? "rotating_light" : "warning") : "information_source",
        ],
        click: m.url,
      });
      return { method: "POST", url: root, headers: { ...headers, ...auth }, body };
    }
    case "gotify": {
      const url = settings.url.replace(/\/+$/, "") + "/message";
      const { body, headers } = json({
        title: title(m),
        message: text(m),
        priority: priority(m, "gotify"),
        extras: { "client::notification": { click: { url: m.url } }, "client::display": { contentType: "text/plain" } },
      });
      // The token goes in a header, never in the URL (URLs end up in logs).
      return { method: "POST", url, headers: { ...headers, ...(settings.token ? { "x-gotify-key": settings.token } : {}) }, body };
    }
    case "ping":
      return { method: "GET", url: settings.url, headers: { ...UA } };
    case "email":
      throw new Error("an e-mail channel sends mail, not HTTP");
  }
}

/** The e-mail for `m`: subject `[Lifeboat] <title>`, plain text with the link. */
export function mailFor(m: Message): MailSpec {
  return { subject: `[Lifeboat] ${title(m)}`, text: `${text(m)}\n\n${m.url}\n` };
}

/** True when the channel should get this alert message at all (ping channels only get heartbeats and tests). */
export function wants(channel: { type: ChannelSettings["type"]; enabled: boolean; minSeverity: "warning" | "critical" }, m: Message): boolean {
  if (!channel.enabled) return false;
  if (m.kind === "test") return true;
  if (m.kind === "heartbeat") return channel.type === "ping";
  if (channel.type === "ping") return false;
  return channel.minSeverity === "warning" || m.severity === "critical";
}
