import Database from "better-sqlite3";

/** kine's SQLite schema (k3s-io/kine pkg/drivers/sqlite), including the newer partial index. */
export const KINE_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS kine (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT,
  created INTEGER,
  deleted INTEGER,
  create_revision INTEGER,
  prev_revision INTEGER,
  lease INTEGER,
  value BLOB,
  old_value BLOB
);
CREATE INDEX IF NOT EXISTS kine_name_index ON kine (name);
CREATE INDEX IF NOT EXISTS kine_name_id_index ON kine (name,id);
CREATE INDEX IF NOT EXISTS kine_id_deleted_index ON kine (id,deleted);
CREATE INDEX IF NOT EXISTS kine_prev_revision_index ON kine (prev_revision);
CREATE UNIQUE INDEX IF NOT EXISTS kine_name_prev_revision_uindex ON kine (name, prev_revision);
CREATE INDEX IF NOT EXISTS kine_id_compact_rev_key_with_prev_revision_index ON kine (id, name, prev_revision)
  WHERE name != 'compact_rev_key' AND prev_revision != 0;
`;

/** kine's insert (pkg/drivers/generic): old_value is copied from the previous row inside the statement. */
export const KINE_INSERT_SQL = `INSERT INTO kine(name, created, deleted, create_revision, prev_revision, lease, value, old_value)
  SELECT ?, ?, ?, ?, ?, ?, ?, (SELECT value FROM kine WHERE id = ?) AS old_value`;

/** One compaction batch, as kine runs it: dead versions and tombstones up to a revision. */
export const KINE_COMPACT_SQL = `DELETE FROM kine AS kv WHERE kv.id IN (
  SELECT kp.prev_revision AS id FROM kine AS kp
    WHERE kp.name != 'compact_rev_key' AND kp.prev_revision != 0 AND kp.id <= ?
  UNION
  SELECT kd.id AS id FROM kine AS kd WHERE kd.deleted != 0 AND kd.id <= ?)`;

export const KINE_SET_COMPACT_REV_SQL = `UPDATE kine SET prev_revision = ? WHERE name = 'compact_rev_key'`;

/** The 9 columns of a kine row, in table order. */
export const KINE_COLUMNS = ["id", "name", "created", "deleted", "create_revision", "prev_revision", "lease", "value", "old_value"] as const;

/**
 * Opens (creating if needed) a kine database the way kine does: WAL, busy_timeout 30 s,
 * synchronous NORMAL, schema created.
 */
export function openKineDb(file: string, opts: { readonly?: boolean } = {}): Database.Database {
  const db = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
  db.pragma("busy_timeout = 30000");
  if (!opts.readonly) {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.exec(KINE_SCHEMA_SQL);
  }
  return db;
}

/**
 * For a scratch database a crash leaves to build again (a salvage's new file, a compaction's window):
 * no rollback journal, no syncs. better-sqlite3's defensive mode silently keeps journal_mode = DELETE
 * when asked for OFF; it is lifted for this connection only.
 */
export function writeAsScratch(db: Database.Database): void {
  db.unsafeMode(true);
  db.pragma("journal_mode = OFF");
  db.pragma("synchronous = OFF");
}
