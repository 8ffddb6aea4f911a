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

/**
 * Bytes of name, value and old_value per read (and so per segment) at most, unless its first row alone
 * is more (then that row is the read). A segment's text carries each byte at most twice (hex, or a
 * quote doubled), plus ~300 bytes a row: 32 MiB of rows is at most ~66 MiB of text, well below what a
 * restore reads (MAX_SEGMENT_TEXT), and what the shipper holds for one read stays tens of MB, where
 * 5,000 Helm release Secrets of ~1 MB (value and old_value) would have been gigabytes.
 */
export const MAX_BYTES_PER_READ = 32 << 20;

/** The newest row at or below a revision that kine's compaction to that revision keeps, and its fingerprint. */
export interface Anchor {
  revision: number;
  fingerprint: string;
}

export interface Standing {
  /** MAX(id) now. */
  revision: number;
  compactRevision: number;
  /** Fingerprint of the row at `after` (null: no such row), to tell a replaced database. */
  rowAtAfter: string | null;
  /** Fingerprint of the row at the anchor revision asked for (null: no such row, or none asked). */
  anchorRow: string | null;
  /**
   * The file read: the same at the path before and after the read (null: it changed meanwhile, so
   * which database was read is not known).
   */
  file: FileId | null;
}

export interface LogRead extends Standing {
  /** Rows with id > after, ascending, at most MAX_ROWS_PER_READ and MAX_BYTES_PER_READ (rowBytes; one row at least). */
  rows: KineRow[];
  /** The read stopped at one of those limits: more rows may follow (the next read continues after the last). */
  more: boolean;
  /** The anchor of the newest row read (anchorOf): null when no rows were read, or no row qualifies. */
  anchor: Anchor | null;
}

/** A fingerprint of a row that survives everything kine does to it in place (compact_rev_key's prev_revision changes). */
export function rowFingerprint(r: { name: string; created: number; deleted: number; create_revision: number; value: Buffer | null }): string {
  const h = createHash("sha256");
  h.update(`${r.name}\0${r.created}\0${r.deleted}\0${r.create_revision}\0`);
  if (r.value) h.update(r.value);
  return h.digest("hex").slice(0, 32);
}

/**
 * Values are read as BLOBs: kine writes BLOBs, but a value stored as TEXT (another writer) would reach
 * the segment's writer as a JS string; CAST gives its bytes (what kine reads either way), NULL stays NULL.
 */
const ROWS_SQL = `SELECT k.id, k.name, k.created, k.deleted, k.create_revision, k.prev_revision, k.lease, CAST(k.value AS BLOB) AS value,
    CASE WHEN (p.id IS NOT NULL OR k.prev_revision = 0) AND k.old_value IS p.value THEN 1 ELSE 0 END AS rebuildable,
    CAST(k.old_value AS BLOB) AS old_value
  FROM kine AS k LEFT JOIN kine AS p ON p.id = k.prev_revision
  WHERE k.id > ? ORDER BY k.id LIMIT ${MAX_ROWS_PER_READ}`;

/**
 * The newest row at or below :at that kine's compaction to :at keeps: not a tombstone, and no row at or
 * below :at names it as its previous revision (kine's compaction DELETE, KINE.md). compact_rev_key is
 * left out (the same in every kine database). Usually the row at :at itself; walks down the primary key.
 */
const ANCHOR_SQL = `SELECT k.id, k.name, k.created, k.deleted, k.create_revision, CAST(k.value AS BLOB) AS value FROM kine AS k
  WHERE k.id <= :at AND k.deleted = 0 AND k.name != 'compact_rev_key'
    AND NOT EXISTS (SELECT 1 FROM kine AS n WHERE n.prev_revision = k.id AND n.id <= :at AND n.name != 'compact_rev_key')
  ORDER BY k.id DESC LIMIT 1`;

// Values as BLOBs here too, so a row's fingerprint is the same whichever of these read it (ROWS_SQL).
const ROW_SQL = "SELECT name, created, deleted, create_revision, CAST(value AS BLOB) AS value FROM kine WHERE id = ?";

type FingerprintRow = Parameters<typeof rowFingerprint>[0];
type RawRow = Omit<KineRow, "oldValueRebuildable"> & { rebuildable: number };

/** What a row counts against MAX_BYTES_PER_READ: its name, value and old_value (carried or not: the read holds it). */
export function rowBytes(r: { name: string; value: Buffer | null; old_value: Buffer | null }): number {
  return Buffer.byteLength(r.name) + (r.value?.length ?? 0) + (r.old_value?.length ?? 0);
}

/** The anchor at revision `at` (see ANCHOR_SQL), read inside the caller's transaction; null when no row qualifies. */
function anchorOf(db: Database.Database, at: number): Anchor | null {
  const row = db.prepare(ANCHOR_SQL).get({ at }) as (FingerprintRow & { id: number }) | undefined;
  return row ? { revision: row.id, fingerprint: rowFingerprint(row) } : null;
}

function fingerprintAt(db: Database.Database, id: number | null): string | null {
  if (id === null || id <= 0) return null;
  const row = db.prepare(ROW_SQL).get(id) as FingerprintRow | undefined;
  return row ? rowFingerprint(row) : null;
}

/** The newest and compact revisions and the rows at `at` and `anchorAt`, read inside the caller's transaction. */
function standingOf(db: Database.Database, at: number, anchorAt: number | null): Omit<Standing, "file"> {
  const revision = (db.prepare("SELECT IFNULL(MAX(id), 0) FROM kine").pluck().get() as number) ?? 0;
  const compactRevision = (db.prepare("SELECT IFNULL(MAX(prev_revision), 0) FROM kine WHERE name = 'compact_rev_key'").pluck().get() as number) ?? 0;
  return { revision, compactRevision, rowAtAfter: fingerprintAt(db, at), anchorRow: fingerprintAt(db, anchorAt) };
}

export class LogReader {
  private db: Database.Database | null = null;
  /** The file the open connection reads. */
  private openFile: FileId | null = null;

  /** `maxBytes`: MAX_BYTES_PER_READ unless given (tests). */
  constructor(
    private readonly dbPath: string,
    private readonly maxBytes: number = MAX_BYTES_PER_READ,
  ) {}

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

  /**
   * Reads what came after revision `after`, the row at `anchorAt` (the anchor recorded with `after`),
   * and the anchor of the newest row read. Rows are taken one at a time until the next would pass
   * `maxBytes` (rowBytes) or MAX_ROWS_PER_READ are read; the first is always taken, however large, so
   * a row bigger than the limit is a read of its own, never skipped. Throws when the database cannot
   * be opened or read.
   */
  async read(after: number, anchorAt: number | null = null): Promise<LogRead> {
    const before = await this.open();
    const db = this.db!;
    const tx = db.transaction(() => {
      const stand = standingOf(db, after, anchorAt);
      const raw: RawRow[] = [];
      let bytes = 0;
      let more = false;
      for (const r of db.prepare(ROWS_SQL).iterate(after) as IterableIterator<RawRow>) {
        const size = rowBytes(r);
        if (raw.length > 0 && bytes + size > this.maxBytes) {
          more = true;
          break;
        }
        raw.push(r);
        bytes += size;
      }
      if (raw.length === MAX_ROWS_PER_READ) more = true;
      const anchor = raw.length ? anchorOf(db, raw[raw.length - 1].id) : null;
      return { ...stand, raw, more, anchor };
    });
    const { raw, ...rest } = tx();
    const rows: KineRow[] = raw.map(({ rebuildable, ...r }) => ({ ...r, oldValueRebuildable: rebuildable === 1 }));
    return { ...rest, rows, file: this.settled(before) };
  }

  /**
   * Where the database stands (its newest and compact revisions, the row at `at`) and the anchor at
   * `at`, without reading rows: what a generation beginning from a base at revision `at` records.
   * Throws as read does.
   */
  async standing(at: number): Promise<Standing & { anchor: Anchor | null }> {
    const before = await this.open();
    const db = this.db!;
    const stand = db.transaction(() => ({ ...standingOf(db, at, null), anchor: at > 0 ? anchorOf(db, at) : null }))();
    return { ...stand, file: this.settled(before) };
  }

  close(): void {
    this.db?.close();
    this.db = null;
    this.openFile = null;
  }
}
