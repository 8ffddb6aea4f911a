import "server-only";
import type { Logger } from "pino";
import type { Db } from "../db/database";
import type { DeliveryView } from "../contracts/alerts";
import { attempt, logTarget } from "./send";
import type { AttemptResult, Channel, Message } from "./types";

/**
 * The outbox: every notification is written to `notification_outbox` first (so a restart does not
 * lose it) and sent by one worker PER CHANNEL, so a receiver that hangs or fails delays only its own
 * messages. A failure that may heal (no answer, 408, 429, 5xx, SMTP 4xx) is retried with back-off
 * (default 5 s, 30 s, 2 min, 10 min, 30 min: six attempts in about 43 minutes); one that will not
 * (another 4xx, a refused login, a request that cannot be built: "cannot send: …") is given up at once. Every attempt is one row of
 * `notification_deliveries` and one log line: outcome and status, the target as scheme and host only.
 */

export interface DispatcherOptions {
  db: Db;
  /** The channels as configured now (a channel that is gone or disabled drops its queued messages). */
  channels: () => Channel[];
  log: Logger;
  /** Delays before the 2nd, 3rd… attempt; its length + 1 is the number of attempts. */
  backoffMs?: readonly number[];
  /** Per-attempt timeout (default 10 s). */
  timeoutMs?: number;
  /** How often due messages are looked for (default 1 s). */
  tickMs?: number;
  now?: () => Date;
}

export const DEFAULT_BACKOFF_MS = [5_000, 30_000, 120_000, 600_000, 1_800_000] as const;

type OutboxRow = { id: number; channel_id: string; event: string; episode_id: number | null; alert_key: string | null; message: string; attempts: number };
type DeliveryRow = {
  id: number;
  at: string;
  channel_id: string;
  channel_label: string;
  channel_type: string;
  event: string;
  alert_key: string | null;
  episode_id: number | null;
  outcome: string;
  attempt: number;
  status: number | null;
  detail: string | null;
};

export const deliveryView = (r: DeliveryRow): DeliveryView => ({
  id: r.id,
  at: r.at,
  channelId: r.channel_id,
  channelLabel: r.channel_label,
  channelType: r.channel_type,
  event: r.event,
  alertKey: r.alert_key,
  episodeId: r.episode_id,
  outcome: r.outcome as DeliveryView["outcome"],
  attempt: r.attempt,
  status: r.status,
  detail: r.detail,
});

/** Delivery-log rows kept (older ones are deleted as new ones arrive). */
const KEEP_DELIVERIES = 5000;

export class Dispatcher {
  private readonly backoff: readonly number[];
  private readonly now: () => Date;
  private readonly workers = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private written = 0;
  /** Set by stop(): a send in flight then leaves its row in the outbox (sent again after start) instead of writing to a database that may be closed. */
  private stopped = false;

  constructor(private readonly opts: DispatcherOptions) {
    this.backoff = opts.backoffMs ?? DEFAULT_BACKOFF_MS;
    this.now = opts.now ?? (() => new Date());
  }

  /** Queues `message` for `channel`; sending starts at once. */
  enqueue(channel: Channel, message: Message, ref: { event: string; episodeId?: number | null; alertKey?: string | null }): void {
    const at = this.now().toISOString();
    this.opts.db
      .prepare(
        "INSERT INTO notification_outbox (channel_id, event, episode_id, alert_key, message, attempts, next_at, created_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
      )
      .run(channel.id, ref.event, ref.episodeId ?? null, ref.alertKey ?? null, JSON.stringify(message), at, at);
    this.kick();
  }

  /** Looks for due messages every tickMs (the timer does not keep the process alive). */
  start(): void {
    this.stopped = false;
    if (this.timer) return;
    this.timer = setInterval(() => this.kick(), this.opts.tickMs ?? 1000);
    this.timer.unref();
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Starts a worker for every channel with a due message that has none running. */
  kick(): void {
    // Stopped: queued messages wait for start() (a send whose result could not be recorded would repeat).
    if (this.stopped) return;
    const due = this.opts.db
      .prepare("SELECT DISTINCT channel_id FROM notification_outbox WHERE next_at <= ?")
      .pluck()
      .all(this.now().toISOString()) as string[];
    for (const id of due) {
      if (this.workers.has(id)) continue;
      const w = this.work(id).finally(() => this.workers.delete(id));
      this.workers.set(id, w);
    }
  }

  /** Resolves when no worker runs and nothing is due (tests). */
  async idle(): Promise<void> {
    for (;;) {
      this.kick();
      if (!this.workers.size) return;
      await Promise.all(this.workers.values());
    }
  }

  /** Messages still waiting (tests, the settings page). */
  pending(): number {
    return this.opts.db.prepare("SELECT COUNT(*) FROM notification_outbox").pluck().get() as number;
  }

  /** Sends one channel's due messages in order until none is due. */
  private async work(channelId: string): Promise<void> {
    const next = this.opts.db.prepare("SELECT * FROM notification_outbox WHERE channel_id = ? AND next_at <= ? ORDER BY id LIMIT 1");
    for (;;) {
      const row = next.get(channelId, this.now().toISOString()) as OutboxRow | undefined;
      if (!row) return;
      const channel = this.opts.channels().find((c) => c.id === channelId);
      // Deleted or disabled since it was queued: its retries stop too (a disabled channel sends nothing).
      if (!channel || !channel.enabled) {
        this.opts.db.prepare("DELETE FROM notification_outbox WHERE channel_id = ?").run(channelId);
        return;
      }
      const result = await attempt(channel, JSON.parse(row.message) as Message, this.opts.timeoutMs);
      // Stopped while sending (shutdown; a test closing its database, CI 2026-12-06): record nothing.
      if (this.stopped) return;
      this.settle(channel, row, result);
    }
  }

  private settle(channel: Channel, row: OutboxRow, r: AttemptResult): void {
    const db = this.opts.db;
    const n = row.attempts + 1;
    const retry = !r.ok && r.retryable && n <= this.backoff.length;
    const outcome = r.ok ? "delivered" : retry ? "retrying" : "failed";
    db.transaction(() => {
      if (retry) {
        const next = new Date(this.now().getTime() + this.backoff[n - 1]).toISOString();
        db.prepare("UPDATE notification_outbox SET attempts = ?, next_at = ? WHERE id = ?").run(n, next, row.id);
      } else db.prepare("DELETE FROM notification_outbox WHERE id = ?").run(row.id);
      this.record(channel, row.event, row.alert_key, row.episode_id, outcome, n, r);
    })();
    const line = {
      channel: channel.label,
      type: channel.type,
      target: logTarget(channel.settings),
      event: row.event,
      alert: row.alert_key,
      attempt: n,
      outcome,
      status: r.status,
      ms: Math.round(r.millis),
    };
    if (r.ok) this.opts.log.info(line, "notification delivered");
    else if (retry) this.opts.log.warn({ ...line, detail: r.detail, retryInMs: this.backoff[n - 1] }, "notification failed; will retry");
    else this.opts.log.error({ ...line, detail: r.detail }, "notification failed; giving up");
  }

  /** Writes one row of the delivery log (also used for tests sent from the settings page). */
  record(channel: Channel, event: string, alertKey: string | null, episodeId: number | null, outcome: string, attemptNo: number, r: AttemptResult): void {
    const db = this.opts.db;
    db.prepare(
      `INSERT INTO notification_deliveries (at, channel_id, channel_label, channel_type, event, alert_key, episode_id, outcome, attempt, status, detail)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(this.now().toISOString(), channel.id, channel.label, channel.type, event, alertKey, episodeId, outcome, attemptNo, r.status, r.detail);
    if (++this.written % 100 === 0)
      db.prepare("DELETE FROM notification_deliveries WHERE id <= (SELECT MAX(id) FROM notification_deliveries) - ?").run(KEEP_DELIVERIES);
  }

  /** The newest delivery-log rows, optionally of one episode or one channel. */
  deliveries(opts: { episodeIds?: readonly number[]; channelId?: string; limit?: number } = {}): DeliveryView[] {
    const db = this.opts.db;
    if (opts.episodeIds) {
      if (!opts.episodeIds.length) return [];
      const rows = db
        .prepare(`SELECT * FROM notification_deliveries WHERE episode_id IN (${opts.episodeIds.map(() => "?").join(",")}) ORDER BY id DESC LIMIT ?`)
        .all(...opts.episodeIds, opts.limit ?? 1000) as DeliveryRow[];
      return rows.map(deliveryView);
    }
    const rows = db
      .prepare("SELECT * FROM notification_deliveries WHERE (? IS NULL OR channel_id = ?) ORDER BY id DESC LIMIT ?")
      .all(opts.channelId ?? null, opts.channelId ?? null, opts.limit ?? 50) as DeliveryRow[];
    return rows.map(deliveryView);
  }
}
