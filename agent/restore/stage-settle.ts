import { rmSync, statSync } from "node:fs";
import Database from "better-sqlite3";
import { fsyncPath } from "../../lib/storage/durable-file";

/**
 * Makes a staged database one self-contained file: a rollback journal that came with it (a write
 * that never committed) is rolled back as SQLite does when it next opens the file, a WAL (from a live
 * copy) is replayed and checkpointed, and the journal mode set to DELETE. Its own -shm is dropped
 * first: an index copied from a running server describes that server's state, not this file's. Synchronous
 * SQLite work (a checkpoint copies the whole WAL): stage.ts runs it on a worker. Resolves with
 * whether a WAL was there. Throws on a database SQLite cannot open (verification reports it).
 */
export function settleDatabase(dbPath: string, durable: boolean): boolean {
  const hadWal = Boolean(statSync(`${dbPath}-wal`, { throwIfNoEntry: false }));
  rmSync(`${dbPath}-shm`, { force: true });
  const db = new Database(dbPath);
  try {
    // The first read rolls a hot journal back (the file alone is torn mid-transaction).
    db.prepare("SELECT COUNT(*) FROM sqlite_master").get();
    if (hadWal) db.pragma("wal_checkpoint(TRUNCATE)");
    db.pragma("journal_mode = DELETE");
  } finally {
    db.close();
  }
  for (const f of [`${dbPath}-wal`, `${dbPath}-shm`, `${dbPath}-journal`]) rmSync(f, { force: true });
  if (durable) fsyncPath(dbPath);
  return hadWal;
}
