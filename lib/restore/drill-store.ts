import "server-only";
import type { Db } from "../db/database";
import type { Verification } from "../contracts/catalog";
import type { KineStats } from "../contracts/manifest";
import { statisticsFromDrill } from "../backups/statistics";
import { SetStatisticsStore } from "../statistics/store";
import { DrillDetail, QUEUED_REASON, type DrillRecord, type DrillState } from "./contracts";

export { QUEUED_REASON };

/**
 * Restore-drill results in the dashboard's SQLite (`restore_drills`, migration 20): one row per
 * backup set of a store (the catalog's source), so switching buckets never mixes results. Pure
 * storage: the DrillService decides what to queue and runs the drills.
 */

type Row = {
  set_id: string;
  state: string;
  requested_by: string;
  queued_at: string;
  started_at: string | null;
  finished_at: string | null;
  reason: string | null;
  restore_id: string | null;
  detail: string | null;
  attempts: number;
};

const fromRow = (r: Row): DrillRecord => {
  let detail: DrillDetail | null = null;
  if (r.detail) {
    const parsed = DrillDetail.safeParse(JSON.parse(r.detail));
    detail = parsed.success ? parsed.data : null;
  }
  return {
    setId: r.set_id,
    state: r.state as DrillState,
    requestedBy: r.requested_by as DrillRecord["requestedBy"],
    queuedAt: r.queued_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    reason: r.reason,
    restoreId: r.restore_id,
    detail,
    attempts: r.attempts,
  };
};

/** A drill record as the catalog's `verification` field (GET /api/backups). */
export function toVerification(d: DrillRecord): Verification {
  switch (d.state) {
    case "queued":
      return { state: "not-verified", at: null, reason: QUEUED_REASON };
    case "running":
      return { state: "running", at: d.startedAt, reason: null };
    case "verified":
      return { state: "verified", at: d.finishedAt, reason: d.reason };
    case "failed":
      return { state: "failed", at: d.finishedAt, reason: d.reason };
  }
}

export class DrillStore {
  constructor(
    private readonly db: Db,
    /** The catalog's source (the store's description). */
    readonly source: string,
  ) {}

  get(setId: string): DrillRecord | null {
    const r = this.db.prepare("SELECT * FROM restore_drills WHERE source = ? AND set_id = ?").get(this.source, setId) as Row | undefined;
    return r ? fromRow(r) : null;
  }

  all(): DrillRecord[] {
    return (
      this.db.prepare("SELECT * FROM restore_drills WHERE source = ? ORDER BY substr(set_id, instr(set_id, '-') + 1) DESC").all(this.source) as Row[]
    ).map(fromRow);
  }

  /** setId → Verification for every recorded drill (one query; the history overlays it on its page). */
  verifications(): Map<string, Verification> {
    const rows = this.db.prepare("SELECT set_id, state, started_at, finished_at, reason FROM restore_drills WHERE source = ?").all(this.source) as Pick<
      Row,
      "set_id" | "state" | "started_at" | "finished_at" | "reason"
    >[];
    return new Map(
      rows.map((r) => [
        r.set_id,
        toVerification({ setId: r.set_id, state: r.state as DrillState, startedAt: r.started_at, finishedAt: r.finished_at, reason: r.reason } as DrillRecord),
      ]),
    );
  }

  inState(state: DrillState): DrillRecord[] {
    return (this.db.prepare("SELECT * FROM restore_drills WHERE source = ? AND state = ?").all(this.source, state) as Row[]).map(fromRow);
  }

  /**
   * Queues a drill of `setId` unless one is queued or running already. A finished result is
   * replaced (Verify now on a verified set verifies it again). Returns the record as it is now.
   */
  enqueue(setId: string, requestedBy: DrillRecord["requestedBy"], now = new Date()): DrillRecord {
    const cur = this.get(setId);
    if (cur && (cur.state === "queued" || cur.state === "running")) {
      // "Verify now" on a set waiting for its automatic drill moves it to the front.
      if (cur.state === "queued" && requestedBy === "user" && cur.requestedBy !== "user")
        this.db.prepare("UPDATE restore_drills SET requested_by = 'user' WHERE source = ? AND set_id = ?").run(this.source, setId);
      return this.get(setId)!;
    }
    this.db
      .prepare(
        `INSERT INTO restore_drills (source, set_id, state, requested_by, queued_at, attempts) VALUES (?, ?, 'queued', ?, ?, 0)
         ON CONFLICT (source, set_id) DO UPDATE SET state = 'queued', requested_by = excluded.requested_by, queued_at = excluded.queued_at,
           started_at = NULL, finished_at = NULL, reason = NULL, restore_id = NULL, detail = NULL, attempts = 0`,
      )
      .run(this.source, setId, requestedBy, now.toISOString());
    return this.get(setId)!;
  }

  /** The next drill to run: Verify-now requests first, then the newest set. */
  next(): DrillRecord | null {
    const r = this.db
      .prepare(
        "SELECT * FROM restore_drills WHERE source = ? AND state = 'queued' ORDER BY requested_by = 'user' DESC, substr(set_id, instr(set_id, '-') + 1) DESC LIMIT 1",
      )
      .get(this.source) as Row | undefined;
    return r ? fromRow(r) : null;
  }

  markRunning(setId: string, restoreId: string | null, now = new Date()): void {
    this.db
      .prepare("UPDATE restore_drills SET state = 'running', started_at = ?, restore_id = ?, attempts = attempts + 1 WHERE source = ? AND set_id = ?")
      .run(now.toISOString(), restoreId, this.source, setId);
  }

  setRestoreId(setId: string, restoreId: string): void {
    this.db.prepare("UPDATE restore_drills SET restore_id = ? WHERE source = ? AND set_id = ?").run(restoreId, this.source, setId);
  }

  /** Back to the queue (the agent was busy or away); the attempt is not counted against the backup. */
  requeue(setId: string, reason: string | null): void {
    this.db
      .prepare("UPDATE restore_drills SET state = 'queued', started_at = NULL, restore_id = NULL, reason = ? WHERE source = ? AND set_id = ?")
      .run(reason, this.source, setId);
  }

  finish(setId: string, state: "verified" | "failed", reason: string, detail: DrillDetail | null, now = new Date()): void {
    this.db
      .prepare("UPDATE restore_drills SET state = ?, finished_at = ?, reason = ?, detail = ? WHERE source = ? AND set_id = ?")
      .run(state, now.toISOString(), reason, detail ? JSON.stringify(detail) : null, this.source, setId);
  }

  /**
   * Keeps the database statistics a drill read in `set_statistics` (lib/statistics), where they
   * outlive the drill's record and its staging: they explain the set's size and draw the trends.
   */
  saveStatistics(setId: string, stats: KineStats, now = new Date()): void {
    new SetStatisticsStore(this.db, this.source).save(statisticsFromDrill(setId, stats, now.toISOString()));
  }

  /** A kv value of this source (the drill service keeps its watermark there). */
  getMeta(key: string): string | null {
    const r = this.db.prepare("SELECT value FROM kv WHERE key = ?").get(`drills:${key}:${this.source}`) as { value: string } | undefined;
    return r?.value ?? null;
  }

  setMeta(key: string, value: string): void {
    this.db
      .prepare("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
      .run(`drills:${key}:${this.source}`, value);
  }
}
