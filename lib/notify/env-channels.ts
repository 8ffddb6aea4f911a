import { ChannelSettings } from "../contracts/alerts";
import { ConfigError } from "../env";
import type { Channel } from "./types";

/**
 * Channels configured by the environment (shown read-only on Settings → Notifications; their
 * secrets stay in the environment, never in lifeboat.db):
 *   LIFEBOAT_WEBHOOK_URL (+ LIFEBOAT_WEBHOOK_SECRET)      generic JSON webhook, HMAC-signed with the secret
 *   LIFEBOAT_SLACK_WEBHOOK_URL                             Slack-compatible incoming webhook
 *   LIFEBOAT_DISCORD_WEBHOOK_URL                           Discord webhook
 *   LIFEBOAT_NTFY_URL (+ LIFEBOAT_NTFY_TOKEN)              ntfy topic URL
 *   LIFEBOAT_GOTIFY_URL + LIFEBOAT_GOTIFY_TOKEN            Gotify server and application token
 *   LIFEBOAT_SMTP_URL + LIFEBOAT_SMTP_FROM + LIFEBOAT_SMTP_TO   e-mail: smtp://user:pass@host:587 (STARTTLS),
 *                                                          smtps://…:465 (TLS); LIFEBOAT_SMTP_SECURITY=none for a plain relay
 *   LIFEBOAT_PING_URL                                      dead-man's switch, called after each successful backup and drill
 */

export type NotifyEnv = Partial<
  Record<
    | "LIFEBOAT_WEBHOOK_URL"
    | "LIFEBOAT_WEBHOOK_SECRET"
    | "LIFEBOAT_SLACK_WEBHOOK_URL"
    | "LIFEBOAT_DISCORD_WEBHOOK_URL"
    | "LIFEBOAT_NTFY_URL"
    | "LIFEBOAT_NTFY_TOKEN"
    | "LIFEBOAT_GOTIFY_URL"
    | "LIFEBOAT_GOTIFY_TOKEN"
    | "LIFEBOAT_SMTP_URL"
    | "LIFEBOAT_SMTP_FROM"
    | "LIFEBOAT_SMTP_TO"
    | "LIFEBOAT_SMTP_SECURITY"
    | "LIFEBOAT_PING_URL",
    string
  >
>;

function channel(id: string, label: string, variable: string, settings: unknown): Channel {
  const parsed = ChannelSettings.safeParse(settings);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`${variable}: ${issue.path.length ? `${issue.path.join(".")}: ` : ""}${issue.message}`);
  }
  return { id: `env:${id}`, type: parsed.data.type, label, enabled: true, minSeverity: "warning", origin: "environment", settings: parsed.data };
}

function smtpChannel(env: NotifyEnv): Channel {
  let u: URL;
  try {
    u = new URL(env.LIFEBOAT_SMTP_URL!);
  } catch {
    throw new ConfigError("LIFEBOAT_SMTP_URL: must be a URL such as smtp://user:password@mail.example.com:587");
  }
  if (u.protocol !== "smtp:" && u.protocol !== "smtps:") throw new ConfigError("LIFEBOAT_SMTP_URL: must start with smtp:// or smtps://");
  if (!env.LIFEBOAT_SMTP_FROM || !env.LIFEBOAT_SMTP_TO) throw new ConfigError("LIFEBOAT_SMTP_FROM and LIFEBOAT_SMTP_TO: required with LIFEBOAT_SMTP_URL");
  const security = env.LIFEBOAT_SMTP_SECURITY ?? (u.protocol === "smtps:" ? "tls" : "starttls");
  if (!["none", "starttls", "tls"].includes(security)) throw new ConfigError("LIFEBOAT_SMTP_SECURITY: must be none, starttls or tls");
  return channel("email", "E-mail (environment)", "LIFEBOAT_SMTP_URL", {
    type: "email",
    host: u.hostname,
    port: Number(u.port || (u.protocol === "smtps:" ? 465 : 587)),
    security,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    from: env.LIFEBOAT_SMTP_FROM,
    to: env.LIFEBOAT_SMTP_TO,
  });
}

/** The channels the environment configures. Throws ConfigError naming the variable when one is invalid. */
export function envChannels(env: NotifyEnv): Channel[] {
  const out: Channel[] = [];
  if (env.LIFEBOAT_WEBHOOK_URL)
    out.push(
      channel("webhook", "Webhook (environment)", "LIFEBOAT_WEBHOOK_URL", {
        type: "webhook",
        url: env.LIFEBOAT_WEBHOOK_URL,
        secret: env.LIFEBOAT_WEBHOOK_SECRET,
      }),
    );
  if (env.LIFEBOAT_SLACK_WEBHOOK_URL)
    out.push(channel("slack", "Slack (environment)", "LIFEBOAT_SLACK_WEBHOOK_URL", { type: "slack", url: env.LIFEBOAT_SLACK_WEBHOOK_URL }));
  if (env.LIFEBOAT_DISCORD_WEBHOOK_URL)
    out.push(channel("discord", "Discord (environment)", "LIFEBOAT_DISCORD_WEBHOOK_URL", { type: "discord", url: env.LIFEBOAT_DISCORD_WEBHOOK_URL }));
  if (env.LIFEBOAT_NTFY_URL)
    out.push(channel("ntfy", "ntfy (environment)", "LIFEBOAT_NTFY_URL", { type: "ntfy", url: env.LIFEBOAT_NTFY_URL, token: env.LIFEBOAT_NTFY_TOKEN }));
  if (env.LIFEBOAT_GOTIFY_URL)
    out.push(
      channel("gotify", "Gotify (environment)", "LIFEBOAT_GOTIFY_URL", { type: "gotify", url: env.LIFEBOAT_GOTIFY_URL, token: env.LIFEBOAT_GOTIFY_TOKEN }),
    );
  if (env.LIFEBOAT_SMTP_URL) out.push(smtpChannel(env));
  if (env.LIFEBOAT_PING_URL) out.push(channel("ping", "Dead-man's switch (environment)", "LIFEBOAT_PING_URL", { type: "ping", url: env.LIFEBOAT_PING_URL }));
  return out;
}
