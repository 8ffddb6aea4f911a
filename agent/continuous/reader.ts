import { createHash } from "node:crypto";
import type Database from "better-sqlite3";
import type { KineRow } from "./segment-format";
import { fileAt, sameFile, type FileId } from "./file-id";

/**
 * Reads kine's new rows on a read-only connection, each time in one short read transaction (a long
 * one would hold back kine's checkpoints and block its writer: KINE.md). The connection stays open
 * between reads, and is opened again when the file at dbPath is another file (a restore swapped it).
 * Each answer says which file it read (device and inode): the shipper compares that with the file its
 * generation is of, recorded in position.json, so a file replaced while the agent was down is seen too.
 */

/** Rows per segment at most: a burst after the store was down becomes several small segments. */
export const MAX_ROWS_PER_READ = 5000;

export interface Standing {
  /** MAX(id) now. */
  revision: number;
  compactRevision: number;
  /** Fingerprint of the row at `after` (null: no such row), to tell a replaced database. */
  rowAtAfter: string | null;
  /**
   * The file read: the same at the path before and after the read (null: it changed meanwhile, so
   * which database was read is not known).
   */
  file: FileId | null;
}

export interface LogRead extends Standing {
  /** Rows with id > after, ascending, at most MAX_ROWS_PER_READ. */
  rows: KineRow[];
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

const ROW_SQL = "SELECT name, created, deleted, create_revision, value FROM kine WHERE id = ?";

type FingerprintRow = Parameters<typeof rowFingerprint>[0];

function fingerprintAt(db: Database.Database, id: number): string | null {
  if (id <= 0) return null;
  const row = db.prepare(ROW_SQL).get(id) as FingerprintRow | undefined;
  return row ? rowFingerprint(row) : null;
}

/** The newest and compact revisions and the row at `at`, read inside the caller's transaction. */
function standingOf(db: Database.Database, at: number): Omit<Standing, "file"> {
  const revision = (db.prepare("SELECT IFNULL(MAX(id), 0) FROM kine").pluck().get() as number) ?? 0;
  const compactRevision = (db.prepare("SELECT IFNULL(MAX(prev_revision), 0) FROM kine WHERE name = 'compact_rev_key'").pluck().get() as number) ?? 0;
  return { revision, compactRevision, rowAtAfter: fingerprintAt(db, at) };
}

export class LogReader {
  private db: Database.Database | null = null;
  /** The file the open connection reads. */
  private openFile: FileId | null = null;

  constructor(private readonly dbPath: string) {}

  /** Opens the connection on the file at the path (again, when that is another file now); the file as it stood before. */
  private async open(): Promise<FileId> {
    const file = fileAt(this.dbPath);
    if (this.db && this.openFile && !sameFile(file, this.openFile)) this.close();
    if (!this.db) {
      const { default: Sqlite } = await import("better-sqlite3");
      this.db = new Sqlite(this.dbPath, { readonly: true, fileMustExist: true });
      this.db.pragma("busy_timeout = 5000");
      this.openFile = file;
    }
    return file;
  }

  /** The file read, when the path held the same one before and after (a swap in between: null). */
  private settled(before: FileId): FileId | null {
    let after: FileId | null = null;
    try {
      after = fileAt(this.dbPath);
    } catch {
      // gone meanwhile: not known which file was read
    }
    return after && sameFile(before, after) ? before : null;
  }

  /** Reads what came after revision `after`. Throws when the database cannot be opened or read. */
  async read(after: number): Promise<LogRead> {
    const before = await this.open();
    const db = this.db!;
    const tx = db.transaction(() => {
      const stand = standingOf(db, after);
      const raw = db.prepare(ROWS_SQL).all(after) as (Omit<KineRow, "oldValueRebuildable"> & { rebuildable: number })[];
      return { ...stand, raw };
    });
    const { raw, ...rest } = tx();
    const rows: KineRow[] = raw.map(({ rebuildable, ...r }) => ({ ...r, oldValueRebuildable: rebuildable === 1 }));
    return { ...rest, rows, file: this.settled(before) };
  }

  /**
   * Where the database stands (its newest and compact revisions, the row at `at`), without reading
   * rows: what a generation beginning from a base at revision `at` records. Throws as read does.
   */
  async standing(at: number): Promise<Standing> {
    const before = await this.open();
    const db = this.db!;
    const stand = db.transaction(() => standingOf(db, at))();
    return { ...stand, file: this.settled(before) };
  }

  close(): void {
    this.db?.close();
    this.db = null;
    this.openFile = null;
  }
}
