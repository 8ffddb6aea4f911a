import Database from "better-sqlite3";

/**
 * SQLite's own checks, the one place they are written: PRAGMA integrity_check (every page, every
 * index against its table) and quick_check (every page of every table, not the index cross-checks;
 * unlike count(*), which SQLite may answer from an index and which stays "fine" on a corrupt table).
 * The agent runs them on the live database after a restore, on snapshots, staged backups, recovery
 * candidates and in the health check; the slow ones on a worker thread (./worker.ts).
 */

export type IntegrityPragma = "integrity_check" | "quick_check";

/** SQLite's verdict: ok only when it answered the single line "ok"; its messages otherwise (at most the limit asked for). */
export interface CheckOutcome {
  ok: boolean;
  messages: string[];
}

export interface ReadOnlyOptions {
  /** Wait up to this long for a lock (a live database that kine writes). */
  busyTimeoutMs?: number;
  /**
   * Page cache in KiB. better-sqlite3 defaults to 16 MB per connection; one pass over a file gains
   * nothing from it, and the agent's peak RSS goal is 100 MB.
   */
  cacheKib?: number;
  /**
   * Map up to this many bytes of the file: pages are read in place instead of copied into SQLite's
   * cache (the same integrity_check, a fifth to a third faster on a 200 MB database). The mapped file
   * counts in the process's RSS, so not where memory matters more than time.
   */
  mmapBytes?: number;
}

/**
 * Opens `file` read-only: never creates it, never writes (a read-write connection that closes last
 * would checkpoint and delete kine's WAL). Throws SQLite's error when it cannot be opened.
 */
export function openReadOnly(file: string, opts: ReadOnlyOptions = {}): Database.Database {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    if (opts.busyTimeoutMs !== undefined) db.pragma(`busy_timeout = ${opts.busyTimeoutMs}`);
    if (opts.cacheKib !== undefined) db.pragma(`cache_size = ${-Math.abs(opts.cacheKib)}`);
    if (opts.mmapBytes !== undefined) db.pragma(`mmap_size = ${opts.mmapBytes}`);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/** Runs `pragma` (at most `limit` messages) on an open database. Throws SQLite's error (e.g. SQLITE_CORRUPT) when the check itself fails. */
export function runCheck(db: Database.Database, pragma: IntegrityPragma, limit = 20): CheckOutcome {
  const rows = db.pragma(`${pragma}(${Math.max(1, Math.floor(limit))})`) as Record<string, string>[];
  const messages = rows.map((r) => String(Object.values(r)[0]));
  return { ok: messages.length === 1 && messages[0] === "ok", messages };
}

/** Opens `file` read-only, runs `pragma` and closes it. Never throws: a file SQLite cannot open or check is `ok: false` with SQLite's message. */
export function checkFile(file: string, pragma: IntegrityPragma, opts: ReadOnlyOptions & { limit?: number } = {}): CheckOutcome {
  let db: Database.Database | undefined;
  try {
    db = openReadOnly(file, opts);
    return runCheck(db, pragma, opts.limit);
  } catch (err) {
    return { ok: false, messages: [(err as Error)?.message ?? String(err)] };
  } finally {
    db?.close();
  }
}

/** True when the database has kine's table. Throws SQLite's error when its schema cannot be read. */
export function hasKineTable(db: Database.Database): boolean {
  return Boolean(db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kine'").get());
}
