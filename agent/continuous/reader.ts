import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import type Database from "better-sqlite3";
import type { KineRow } from "./segment-format";

/**
 * Reads kine's new rows on a read-only connection, each time in one short read transaction (a long
 * one would hold back kine's checkpoints and block its writer: KINE.md). The connection stays open
 * between reads, and is opened again when the file at dbPath is another file (a restore swapped it).
 */

/** Rows per segment at most: a burst after the store was down becomes several small segments. */
export const MAX_ROWS_PER_READ = 5000;

export interface LogRead {
  /** MAX(id) now. */
  revision: number;
  compactRevision: number;
  /** Fingerprint of the row at `after` (null: no such row), to tell a replaced database. */
  rowAtAfter: string | null;
  /** Rows with id > after, ascending, at most MAX_ROWS_PER_READ. */
  rows: KineRow[];
  /** The file was another one than at the previous read (inode changed). */
  fileReplaced: boolean;
}

/** A fingerprint of a row that survives everything kine does to it in place (compact_rev_key's prev_revision changes). */
export function rowFingerprint(r: { name: string; created: number; deleted: number; create_revision: number; value: Buffer | null }): string {
  const h = createHash("sha256");
  h.update(`${r.name}\0${r.created}\0${r.deleted}\0${r.create_revision}\0`);
  if (r.value) h.update(r.value);
  return h.digest("hex").slice(0, 32);
}

const ROWS_SQL = `SELECT k.id, k.name, k.created, k.deleted, k.create_revision, k.prev_revision, k.lease, k.value,
    CASE WHEN (p.id IS NOT NULL OR k.prev_revision = 0) AND k.old_value IS p.value THEN 1 ELSE 0 END AS rebuildable,
    k.old_value
  FROM kine AS k LEFT JOIN kine AS p ON p.id = k.prev_revision
  WHERE k.id > ? ORDER BY k.id LIMIT ${MAX_ROWS_PER_READ}`;

/** The newest and compact revisions and the row at `at`, read inside the caller's transaction. */
function standingOf(db: Database.Database, at: number): Omit<LogRead, "rows" | "fileReplaced"> {
  const revision = (db.prepare("SELECT IFNULL(MAX(id), 0) FROM kine").pluck().get() as number) ?? 0;
  const compactRevision = (db.prepare("SELECT IFNULL(MAX(prev_revision), 0) FROM kine WHERE name = 'compact_rev_key'").pluck().get() as number) ?? 0;
  const row = at > 0 ? (db.prepare("SELECT name, created, deleted, create_revision, value FROM kine WHERE id = ?").get(at) as KineRow | undefined) : undefined;
  return { revision, compactRevision, rowAtAfter: row ? rowFingerprint(row) : null };
}

export class LogReader {
  private db: Database.Database | null = null;
  private ino: number | null = null;
  /** A replacement standing() saw: the next read still reports it. */
  private replacedUnread = false;

  constructor(private readonly dbPath: string) {}

  private async open(): Promise<boolean> {
    const ino = statSync(this.dbPath).ino;
    const replaced = this.ino !== null && ino !== this.ino;
    if (this.db && replaced) this.close();
    if (!this.db) {
      const { default: Sqlite } = await import("better-sqlite3");
      this.db = new Sqlite(this.dbPath, { readonly: true, fileMustExist: true });
      this.db.pragma("busy_timeout = 5000");
    }
    this.ino = ino;
    return replaced;
  }

  /** Reads what came after revision `after`. Throws when the database cannot be opened or read. */
  async read(after: number): Promise<LogRead> {
    const fileReplaced = (await this.open()) || this.replacedUnread;
    this.replacedUnread = false;
    const db = this.db!;
    const tx = db.transaction(() => {
      const stand = standingOf(db, after);
      const raw = db.prepare(ROWS_SQL).all(after) as (Omit<KineRow, "oldValueRebuildable"> & { rebuildable: number })[];
      return { ...stand, raw };
    });
    const { raw, ...rest } = tx();
    const rows: KineRow[] = raw.map(({ rebuildable, ...r }) => ({ ...r, oldValueRebuildable: rebuildable === 1 }));
    return { ...rest, rows, fileReplaced };
  }

  /** Where the database stands (its newest and compact revisions, the row at `at`), without reading rows. Throws as read does. */
  async standing(at: number): Promise<Omit<LogRead, "rows" | "fileReplaced">> {
    if (await this.open()) this.replacedUnread = true;
    const db = this.db!;
    return db.transaction(() => standingOf(db, at))();
  }

  close(): void {
    this.db?.close();
    this.db = null;
  }
}
