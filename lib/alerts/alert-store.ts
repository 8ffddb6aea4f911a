import "server-only";
import type { Db } from "../db/database";
import type { AlertName, AlertSeverity } from "../contracts/alerts";
import type { AlertCandidate } from "./rules/types";
import type { OpenAlert, Transitions } from "./rules/evaluate";

/**
 * Alert state in the dashboard's SQLite (`alert_episodes`, migration 50): one row per episode, open
 * while `resolved_at` is NULL; a unique partial index keeps at most one open episode per key, so a
 * second evaluation racing the first cannot start the same alert twice.
 */

export interface Episode extends OpenAlert {
  startedAt: string;
  updatedAt: string;
  resolvedAt: string | null;
  remindedAt: string | null;
  clearSince: string | null;
}

type Row = {
  id: number;
  key: string;
  name: string;
  severity: string;
  summary: string;
  set_id: string | null;
  node: string | null;
  path: string;
  started_at: string;
  updated_at: string;
  resolved_at: string | null;
  reminded_at: string | null;
  clear_since: string | null;
};

const fromRow = (r: Row): Episode => ({
  id: r.id,
  key: r.key,
  name: r.name as AlertName,
  severity: r.severity as AlertSeverity,
  summary: r.summary,
  setId: r.set_id,
  node: r.node,
  path: r.path,
  startedAt: r.started_at,
  updatedAt: r.updated_at,
  resolvedAt: r.resolved_at,
  remindedAt: r.reminded_at,
  clearSince: r.clear_since,
});

/** How many resolved episodes are kept (the oldest go first). */
const KEEP_RESOLVED = 1000;

/** What applying one evaluation changed, for the notifier. */
export interface Applied {
  started: Episode[];
  escalated: Episode[];
  resolved: Episode[];
}

export class AlertStore {
  constructor(private readonly db: Db) {}

  /** The alerts firing now, oldest first. */
  open(): Episode[] {
    return (this.db.prepare("SELECT * FROM alert_episodes WHERE resolved_at IS NULL ORDER BY started_at, id").all() as Row[]).map(fromRow);
  }

  /** Resolved episodes, newest first. */
  history(limit = 100): Episode[] {
    return (this.db.prepare("SELECT * FROM alert_episodes WHERE resolved_at IS NOT NULL ORDER BY resolved_at DESC, id DESC LIMIT ?").all(limit) as Row[]).map(
      fromRow,
    );
  }

  get(id: number): Episode | null {
    const r = this.db.prepare("SELECT * FROM alert_episodes WHERE id = ?").get(id) as Row | undefined;
    return r ? fromRow(r) : null;
  }

  /** The episodes of one alert key, newest first. */
  byKey(key: string, limit = 50): Episode[] {
    return (this.db.prepare("SELECT * FROM alert_episodes WHERE key = ? ORDER BY started_at DESC, id DESC LIMIT ?").all(key, limit) as Row[]).map(fromRow);
  }

  /** Writes one evaluation's transitions in one transaction and returns the episodes as stored. */
  apply(t: Transitions, now: Date): Applied {
    const at = now.toISOString();
    const insert = this.db.prepare(
      `INSERT INTO alert_episodes (key, name, severity, summary, set_id, node, path, started_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    );
    const update = this.db.prepare("UPDATE alert_episodes SET severity = ?, summary = ?, set_id = ?, node = ?, path = ?, updated_at = ? WHERE id = ?");
    const resolve = this.db.prepare("UPDATE alert_episodes SET resolved_at = ?, updated_at = ? WHERE id = ? AND resolved_at IS NULL");
    const write = (id: number, a: AlertCandidate) => update.run(a.severity, a.summary, a.setId, a.node, a.path, at, id);
    const clearing = this.db.prepare("UPDATE alert_episodes SET clear_since = ? WHERE id = ? AND clear_since IS NULL AND resolved_at IS NULL");
    const refiring = this.db.prepare("UPDATE alert_episodes SET clear_since = NULL WHERE id = ?");
    return this.db.transaction((): Applied => {
      const out: Applied = { started: [], escalated: [], resolved: [] };
      for (const a of t.start) {
        const r = insert.run(a.key, a.name, a.severity, a.summary, a.setId, a.node, a.path, at, at);
        if (r.changes) out.started.push(this.get(Number(r.lastInsertRowid))!);
      }
      for (const { id, alert } of t.escalate) {
        write(id, alert);
        out.escalated.push(this.get(id)!);
      }
      for (const { id, alert } of t.update) write(id, alert);
      for (const a of t.clearing) clearing.run(at, a.id);
      for (const a of t.refiring) refiring.run(a.id);
      for (const a of t.resolve) if (resolve.run(at, at, a.id).changes) out.resolved.push(this.get(a.id)!);
      if (out.resolved.length) this.prune();
      return out;
    })();
  }

  /** Firing episodes last notified (started or reminded) longer than `everyMs` ago. */
  dueReminders(now: Date, everyMs: number): Episode[] {
    if (!(everyMs > 0)) return [];
    const before = new Date(now.getTime() - everyMs).toISOString();
    return (
      this.db.prepare("SELECT * FROM alert_episodes WHERE resolved_at IS NULL AND COALESCE(reminded_at, started_at) <= ? ORDER BY id").all(before) as Row[]
    ).map(fromRow);
  }

  markReminded(id: number, now: Date): void {
    this.db.prepare("UPDATE alert_episodes SET reminded_at = ? WHERE id = ?").run(now.toISOString(), id);
  }

  private prune(): void {
    this.db
      .prepare(
        `DELETE FROM alert_episodes WHERE resolved_at IS NOT NULL AND id NOT IN (
           SELECT id FROM alert_episodes WHERE resolved_at IS NOT NULL ORDER BY resolved_at DESC LIMIT ?)`,
      )
      .run(KEEP_RESOLVED);
  }
}
