import "server-only";
import Database from "better-sqlite3";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import path from "node:path";
import { currentActor } from "../auth/request-context";
import { migrations as allMigrations, type Migration } from "./migrations";

export type Db = Database.Database;

/**
 * Opens (creating if needed) the dashboard database `lifeboat.db` in `dataDir` and applies pending
 * migrations in one transaction each. The directory is made 0700 and the database 0600 (SQLite gives
 * its -wal and -shm the database's mode): they hold password hashes and, during a restore to a new
 * machine, that machine's agent token. Throws when the file is not a database or a migration fails.
 */
export function openDatabase(dataDir: string, migrations: Migration[] = allMigrations): Db {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  const file = path.join(dataDir, "lifeboat.db");
  if (!existsSync(file)) closeSync(openSync(file, "a", 0o600));
  chmodSync(file, 0o600);
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  // Deleted rows are overwritten with zeros, so a forgotten secret leaves no copy in the file (with
  // a WAL checkpoint, none in the WAL either: see forgetSecrets).
  db.pragma("secure_delete = ON");
  migrate(db, migrations);
  // It holds secrets (notification channels' URLs and passwords, a new machine's agent token): owner only.
  // turbopackIgnore: a computed path Turbopack cannot follow, which made the release's standalone trace
  // take the whole checkout (lib/launcher/build-release.test.ts).
  for (const side of ["-wal", "-shm"]) if (existsSync(/*turbopackIgnore: true*/ file + side)) chmodSync(/*turbopackIgnore: true*/ file + side, 0o600);
  return db;
}

/**
 * After deleting a secret: moves everything into the database file and empties the WAL, so the
 * secret's old frames are gone too. Retries while another connection reads (busy).
 */
export function forgetSecrets(db: Db): void {
  for (let i = 0; i < 20; i++) {
    const [res] = db.pragma("wal_checkpoint(TRUNCATE)") as { busy: number }[];
    if (!res || res.busy === 0) return;
  }
}

export function migrate(db: Db, migrations: Migration[]): void {
  db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)");
  const applied = new Set(db.prepare("SELECT id FROM schema_migrations").pluck().all() as number[]);
  const ids = new Set<number>();
  for (const m of migrations) {
    if (ids.has(m.id)) throw new Error(`duplicate migration id ${m.id} (${m.name})`);
    ids.add(m.id);
  }
  for (const m of [...migrations].sort((a, b) => a.id - b.id)) {
    if (applied.has(m.id)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare("INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)").run(m.id, m.name, new Date().toISOString());
    })();
  }
}

export interface AuditEntry {
  id: number;
  at: string;
  action: string;
  target: string | null;
  outcome: string;
  detail: unknown;
  /** Who acted: a user's or API token's name, or "system" for background work. */
  actor: string | null;
  actorRole: string | null;
  /** The client's address (null for background work, or when the server could not tell). */
  clientAddress: string | null;
}

/**
 * Appends one line to the audit log (time, action, target, outcome, and who acted: the request's
 * user or token with its role and address, read from the request context). Never pass secrets in `detail`.
 */
export function audit(db: Db, action: string, target: string | null, outcome: string, detail?: unknown): void {
  const actor = currentActor();
  db.prepare("INSERT INTO audit_log (at, action, target, outcome, detail, actor, actor_role, client_address) VALUES (?, ?, ?, ?, ?, ?, ?, ?)").run(
    new Date().toISOString(),
    action,
    target,
    outcome,
    detail === undefined ? null : JSON.stringify(detail),
    actor.name,
    actor.role,
    actor.address,
  );
}

/**
 * The newest audit entries first, optionally only those whose action starts with `actionPrefix`;
 * with `beforeId`, those older than that entry (the next page of a long log).
 */
export function readAudit(db: Db, opts: { limit?: number; actionPrefix?: string; beforeId?: number } = {}): AuditEntry[] {
  const rows = db
    .prepare(
      `SELECT id, at, action, target, outcome, detail, actor, actor_role AS actorRole, client_address AS clientAddress FROM audit_log
       WHERE (? IS NULL OR substr(action, 1, length(?)) = ?) AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?`,
    )
    // Compared as text, not with LIKE: `%` and `_` in a prefix (`?prefix=%25`) would match anything, and LIKE ignores case.
    .all(
      opts.actionPrefix ?? null,
      opts.actionPrefix ?? null,
      opts.actionPrefix ?? null,
      opts.beforeId ?? null,
      opts.beforeId ?? null,
      opts.limit ?? 200,
    ) as (Omit<AuditEntry, "detail"> & {
    detail: string | null;
  })[];
  return rows.map((r) => ({ ...r, detail: r.detail ? JSON.parse(r.detail) : null }));
}

/** A value of the `kv` table, or null. */
export function kvGet(db: Db, key: string): string | null {
  return (db.prepare("SELECT value FROM kv WHERE key = ?").pluck().get(key) as string | undefined) ?? null;
}

/** Sets a `kv` value; `onlyIfAbsent` keeps an existing one (a first-seen time). */
export function kvSet(db: Db, key: string, value: string, opts: { onlyIfAbsent?: boolean } = {}): void {
  db.prepare(`INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO ${opts.onlyIfAbsent ? "NOTHING" : "UPDATE SET value = excluded.value"}`).run(
    key,
    value,
  );
}

export function kvDelete(db: Db, key: string): void {
  db.prepare("DELETE FROM kv WHERE key = ?").run(key);
}
