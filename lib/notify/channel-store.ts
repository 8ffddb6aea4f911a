import "server-only";
import { randomUUID } from "node:crypto";
import type { Db } from "../db/database";
import { DomainError } from "../contracts/errors";
import { ChannelSettings, type AlertSeverity, type ChannelInput, type ChannelType } from "../contracts/alerts";
import { withoutCredentials } from "./formats";
import type { Channel } from "./types";

/**
 * Channels made on Settings → Notifications, in `notification_channels` (migration 51). Their
 * secrets (webhook URLs, tokens, the SMTP password, the HMAC secret) are stored here because sending
 * needs them, and leave this module only toward a sender: the API shows hints (lib/notify/views.ts).
 * Updating with an empty secret keeps the stored one.
 */

type Row = { id: string; type: string; label: string; enabled: number; min_severity: string; settings: string; created_at: string; updated_at: string };

/** The fields of each type that are secrets (kept when an update leaves them empty). */
export const SECRET_FIELDS: Record<ChannelType, readonly string[]> = {
  webhook: ["url", "secret"],
  slack: ["url"],
  discord: ["url"],
  ntfy: ["url", "token"],
  gotify: ["token"],
  email: ["password"],
  ping: ["url"],
};

const fromRow = (r: Row): Channel => ({
  id: r.id,
  type: r.type as ChannelType,
  label: r.label,
  enabled: r.enabled === 1,
  minSeverity: r.min_severity as AlertSeverity,
  origin: "settings",
  settings: ChannelSettings.parse(JSON.parse(r.settings)),
});

/** A URL-typed secret is required when a channel is created (an update may leave it empty to keep it). */
function requireUrl(settings: ChannelSettings): void {
  if ("url" in settings && !settings.url) throw new DomainError("bad_request", "settings.url: enter the URL to send to.");
}

export class ChannelStore {
  constructor(private readonly db: Db) {}

  all(): Channel[] {
    return (this.db.prepare("SELECT * FROM notification_channels ORDER BY created_at, id").all() as Row[]).map(fromRow);
  }

  get(id: string): Channel | null {
    const r = this.db.prepare("SELECT * FROM notification_channels WHERE id = ?").get(id) as Row | undefined;
    return r ? fromRow(r) : null;
  }

  /** Adds a channel. Throws DomainError `bad_request` when its URL is missing. */
  create(input: ChannelInput, now = new Date()): Channel {
    requireUrl(input.settings);
    const id = randomUUID();
    const at = now.toISOString();
    this.db
      .prepare("INSERT INTO notification_channels (id, type, label, enabled, min_severity, settings, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .run(id, input.settings.type, input.label, input.enabled === false ? 0 : 1, input.minSeverity ?? "warning", JSON.stringify(input.settings), at, at);
    return this.get(id)!;
  }

  /**
   * Replaces a channel's settings; empty secret fields keep the stored values. Throws DomainError
   * `not_found` for an unknown id, `bad_request` when the type changes without its URL.
   */
  update(id: string, input: ChannelInput, now = new Date()): Channel {
    const cur = this.get(id);
    if (!cur) throw new DomainError("not_found", `There is no notification channel ${id} (it may have been deleted): reload the page.`);
    const next: Record<string, unknown> = { ...input.settings };
    if (cur.type === input.settings.type) {
      const stored = cur.settings as Record<string, unknown>;
      for (const f of SECRET_FIELDS[cur.type]) if (!next[f]) next[f] = stored[f];
      // A URL shown without its user info (Gotify's) and sent back unchanged keeps the stored user info.
      if (typeof stored.url === "string" && next.url !== stored.url && next.url === withoutCredentials(stored.url)) next.url = stored.url;
    }
    const settings = ChannelSettings.parse(next);
    requireUrl(settings);
    this.db
      .prepare("UPDATE notification_channels SET type = ?, label = ?, enabled = ?, min_severity = ?, settings = ?, updated_at = ? WHERE id = ?")
      .run(settings.type, input.label, input.enabled === false ? 0 : 1, input.minSeverity ?? "warning", JSON.stringify(settings), now.toISOString(), id);
    return this.get(id)!;
  }

  /** Deletes a channel and what it still had to send. Throws DomainError `not_found` for an unknown id. */
  remove(id: string): void {
    const r = this.db.transaction(() => {
      this.db.prepare("DELETE FROM notification_outbox WHERE channel_id = ?").run(id);
      return this.db.prepare("DELETE FROM notification_channels WHERE id = ?").run(id);
    })();
    if (!r.changes) throw new DomainError("not_found", `There is no notification channel ${id} (it may have been deleted already): reload the page.`);
  }
}
