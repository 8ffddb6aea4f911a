import "server-only";
import type { Logger } from "pino";
import { kvGet, kvSet, type Db } from "../db/database";
import { DomainError } from "../contracts/errors";
import type { AlertSeverity, ChannelInput, ChannelView, NotificationSettings, TestResult } from "../contracts/alerts";
import { ChannelStore, SECRET_FIELDS } from "./channel-store";
import { Dispatcher, type DispatcherOptions } from "./dispatcher";
import { wants, withoutCredentials } from "./formats";
import { attempt, displayTarget } from "./send";
import type { AlertMessage, Channel, Message } from "./types";

/**
 * Who gets told what. Alerts go to every enabled channel that takes their severity (ping channels
 * only get heartbeats); `notification_sent` remembers, per episode and channel, that the firing and
 * the resolve were queued, so each is sent exactly once — also to a channel added while an alert
 * fires (it gets that alert once), and after a restart between an evaluation and its notifications.
 */

/** An alert episode as the notifier needs it. */
export interface EpisodeRef {
  id: number;
  key: string;
  name: AlertMessage["alert"];
  severity: AlertSeverity;
  summary: string;
  setId: string | null;
  node: string | null;
  path: string;
  startedAt: string;
  resolvedAt: string | null;
}

export interface NotifierOptions extends Pick<DispatcherOptions, "backoffMs" | "timeoutMs" | "tickMs" | "now"> {
  db: Db;
  log: Logger;
  /** Channels from the environment (lib/notify/env-channels.ts). */
  envChannels: Channel[];
  /** Where links point: LIFEBOAT_PUBLIC_URL, no trailing slash. */
  publicUrl: string;
}

const REMIND_KEY = "notify:remindEveryHours";

export class Notifier {
  readonly store: ChannelStore;
  readonly dispatcher: Dispatcher;
  private readonly now: () => Date;

  constructor(private readonly opts: NotifierOptions) {
    this.store = new ChannelStore(opts.db);
    this.now = opts.now ?? (() => new Date());
    this.dispatcher = new Dispatcher({ ...opts, channels: () => this.channels() });
  }

  /** Starts sending queued messages (and their retries) in the background. */
  start(): void {
    this.dispatcher.start();
  }

  stop(): void {
    this.dispatcher.stop();
  }

  /** Every configured channel: the environment's first, then the settings page's. */
  channels(): Channel[] {
    return [...this.opts.envChannels, ...this.store.all()];
  }

  /** Enabled channels that receive alerts (not ping channels): 0 means alerts are delivered nowhere. */
  alertChannels(): number {
    return this.channels().filter((c) => c.enabled && c.type !== "ping").length;
  }

  url(path: string): string {
    return this.opts.publicUrl + path;
  }

  private message(e: EpisodeRef, event: AlertMessage["event"], escalatedFrom?: AlertSeverity): AlertMessage {
    return {
      kind: "alert",
      event,
      alert: e.name,
      key: e.key,
      severity: e.severity,
      summary: e.summary,
      setId: e.setId,
      node: e.node,
      url: this.url(e.path),
      startedAt: e.startedAt,
      resolvedAt: e.resolvedAt,
      ...(escalatedFrom ? { escalatedFrom } : {}),
    };
  }

  /** Queues `event` of `episode` to `channel` unless it was queued before; true when queued now. */
  private once(channel: Channel, e: EpisodeRef, event: "firing" | "resolved" | "escalated", m: AlertMessage): boolean {
    const r = this.opts.db
      .prepare("INSERT INTO notification_sent (episode_id, channel_id, event, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING")
      .run(e.id, channel.id, event, this.now().toISOString());
    if (!r.changes) return false;
    this.dispatcher.enqueue(channel, m, { event: m.event, episodeId: e.id, alertKey: e.key });
    return true;
  }

  /**
   * Makes sure every firing episode was queued to every channel that wants it, and every resolved
   * one (resolved within the last day) to every channel that got its firing. Idempotent.
   */
  reconcile(open: readonly EpisodeRef[], resolved: readonly EpisodeRef[]): void {
    const channels = this.channels();
    for (const e of open) {
      const m = this.message(e, "firing");
      for (const c of channels) if (wants(c, m)) this.once(c, e, "firing", m);
    }
    const sentFiring = this.opts.db.prepare("SELECT channel_id FROM notification_sent WHERE episode_id = ? AND event = 'firing'").pluck();
    for (const e of resolved) {
      const got = new Set(sentFiring.all(e.id) as string[]);
      if (!got.size) continue;
      const m = this.message(e, "resolved");
      for (const c of channels) if (got.has(c.id) && c.enabled) this.once(c, e, "resolved", m);
    }
  }

  /**
   * A firing alert became critical: sent again to the channels that want critical alerts. A channel
   * that did not take the warning (critical only) gets this as its one firing message: it is
   * recorded as its `firing` too, so reconcile does not send a plain FIRING after it and the resolve
   * reaches it.
   */
  escalated(e: EpisodeRef, from: AlertSeverity): void {
    const m = this.message(e, "firing", from);
    const mark = this.opts.db.prepare("INSERT INTO notification_sent (episode_id, channel_id, event, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING");
    for (const c of this.channels()) {
      if (!wants(c, m)) continue;
      const at = this.now().toISOString();
      const queued = this.opts.db.transaction(() => {
        const first = mark.run(e.id, c.id, "firing", at).changes > 0;
        const again = mark.run(e.id, c.id, "escalated", at).changes > 0;
        return first || again;
      })();
      if (queued) this.dispatcher.enqueue(c, m, { event: m.event, episodeId: e.id, alertKey: e.key });
    }
  }

  /** A reminder of a still-firing alert to every channel that wants it. */
  remind(e: EpisodeRef): void {
    const m = this.message(e, "reminder");
    for (const c of this.channels()) if (wants(c, m)) this.dispatcher.enqueue(c, m, { event: "reminder", episodeId: e.id, alertKey: e.key });
  }

  /** The dead-man's-switch ping after a successful backup or drill, to every enabled ping channel. */
  heartbeat(what: "backup" | "drill", setId: string): void {
    const m: Message = {
      kind: "heartbeat",
      what,
      setId,
      summary: what === "backup" ? `New backup set ${setId}.` : `Restore drill of ${setId} passed.`,
      url: this.url(`/backups/${encodeURIComponent(setId)}`),
    };
    for (const c of this.channels()) if (wants(c, m)) this.dispatcher.enqueue(c, m, { event: "heartbeat" });
  }

  /** Sends a test on one channel now (one attempt, logged like any delivery). Throws DomainError `not_found`. */
  async test(channelId: string): Promise<TestResult> {
    const channel = this.channels().find((c) => c.id === channelId);
    if (!channel) throw new DomainError("not_found", `There is no notification channel ${channelId} (it may have been deleted): reload the page.`);
    const m: Message = {
      kind: "test",
      at: this.now().toISOString(),
      summary: `This is a test from Lifeboat: "${channel.label}" works. Alerts will arrive here like this.`,
      url: this.url("/alerts"),
    };
    const r = await attempt(channel, m, this.opts.timeoutMs);
    this.dispatcher.record(channel, "test", null, null, r.ok ? "delivered" : "failed", 1, r);
    const line = { channel: channel.label, type: channel.type, event: "test", outcome: r.ok ? "delivered" : "failed", status: r.status };
    if (r.ok) this.opts.log.info(line, "test notification delivered");
    else this.opts.log.warn({ ...line, detail: r.detail }, "test notification failed");
    return { ok: r.ok, status: r.status, detail: r.detail, millis: r.millis };
  }

  /** Hours between reminders of a firing alert (0: none). */
  remindEveryHours(): number {
    return Number(kvGet(this.opts.db, REMIND_KEY) ?? 0);
  }

  setRemindEveryHours(hours: number): void {
    kvSet(this.opts.db, REMIND_KEY, String(hours));
  }

  /** A channel as the browser may see it: secrets only as hints. */
  view(c: Channel): ChannelView {
    const s = c.settings as Record<string, unknown>;
    const secrets = Object.fromEntries(SECRET_FIELDS[c.type].map((f) => [f, Boolean(s[f])]));
    const fields: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(s))
      if (k !== "type" && !SECRET_FIELDS[c.type].includes(k) && (typeof v === "string" || typeof v === "number"))
        // A URL's user info is a password: never shown (an update with the URL as shown keeps it).
        fields[k] = k === "url" && typeof v === "string" ? withoutCredentials(v) : v;
    const last = this.dispatcher.deliveries({ channelId: c.id, limit: 1 })[0] ?? null;
    return {
      id: c.id,
      type: c.type,
      label: c.label,
      enabled: c.enabled,
      minSeverity: c.minSeverity,
      origin: c.origin,
      target: displayTarget(c.settings),
      fields,
      secrets,
      lastDelivery: last,
    };
  }

  /** GET /api/settings/notifications */
  settings(): NotificationSettings {
    return {
      channels: this.channels().map((c) => this.view(c)),
      remindEveryHours: this.remindEveryHours(),
      publicUrl: this.opts.publicUrl,
      deliveries: this.dispatcher.deliveries({ limit: 50 }),
    };
  }

  /** Adds a channel made on the settings page. Throws DomainError `bad_request`. */
  create(input: ChannelInput): ChannelView {
    return this.view(this.store.create(input, this.now()));
  }

  /** Changes a settings-page channel. Throws DomainError `not_found`, `forbidden` (an environment channel), `bad_request`. */
  update(id: string, input: ChannelInput): ChannelView {
    if (id.startsWith("env:"))
      throw new DomainError("forbidden", "This channel comes from the environment: change its LIFEBOAT_* variables and restart the dashboard.");
    return this.view(this.store.update(id, input, this.now()));
  }

  /** Deletes a settings-page channel. Throws DomainError `not_found`, `forbidden` (an environment channel). */
  remove(id: string): void {
    if (id.startsWith("env:"))
      throw new DomainError("forbidden", "This channel comes from the environment: unset its LIFEBOAT_* variables and restart the dashboard.");
    this.store.remove(id);
  }
}
