import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { writeFileDurable } from "../../lib/storage/durable-file";
import { continuousDir } from "./continuous-dir";
import type { FileId } from "./file-id";

/**
 * Backups tell the log about themselves: the first generation begins at the first backup set this
 * agent takes (nightly, "Back up now" or the CLI inside `serve`), so turning the log on never starts a
 * backup nobody asked for. A later generation (the database replaced) takes its base at once.
 *
 * `lifeboat-agent backup` run as a process of its own (a timer, a CronJob) cannot call `serve`'s
 * listeners: it leaves its set in the state directory instead (offerBase), and a `serve` waiting for
 * its first base takes it from there (takeOfferedBase). Whether the database is still the file the
 * set's snapshot read, and kine still holds the rows after it, is the shipper's to check, as for any
 * base (shipper.ts, staleBase): if not, the log waits for the next set.
 */

export interface BackupDone {
  setId: string;
  revision: number;
  /**
   * The database file the snapshot read (device and inode, the same before and after it); null when
   * another file was put at the path while it ran. Absent: not known (an offer from an older version).
   * The log takes the set as its base only while that file is still the database (shipper.ts).
   */
  file?: FileId | null;
}

const listeners = new Set<(b: BackupDone) => void>();

/** Calls `fn` after each successful backup; returns the unsubscribe. */
export function onBackupDone(fn: (b: BackupDone) => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Told by the backup job when a set is complete. Never throws. */
export function backupDone(b: BackupDone): void {
  for (const fn of listeners) {
    try {
      fn(b);
    } catch {
      // a listener's trouble is its own
    }
  }
}

/** Leaves set `b` for a `serve` waiting for its first base (replacing an older offer). Throws on I/O errors. */
export function offerBase(stateDir: string, b: BackupDone): void {
  const { dir, baseOffer } = continuousDir(stateDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileDurable(baseOffer, JSON.stringify({ setId: b.setId, revision: b.revision, ...(b.file !== undefined ? { file: b.file } : {}) }) + "\n");
}

/**
 * The set a backup of its own process left (offerBase), removed as it is taken; null when there is none
 * or it is not one (a damaged or foreign file is removed too: a later backup offers again).
 */
export function takeOfferedBase(stateDir: string): BackupDone | null {
  const file = continuousDir(stateDir).baseOffer;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return null;
  }
  rmSync(file, { force: true });
  try {
    const o = JSON.parse(text) as { setId?: unknown; revision?: unknown; file?: unknown };
    if (typeof o.setId === "string" && /^[\w.:-]{1,200}$/.test(o.setId) && Number.isSafeInteger(o.revision) && (o.revision as number) >= 0) {
      const offer: BackupDone = { setId: o.setId, revision: o.revision as number };
      // A file that is not one reads as "replaced while it ran" (null): the set is then not taken.
      if (o.file !== undefined) offer.file = isFileId(o.file) ? { dev: o.file.dev, ino: o.file.ino } : null;
      return offer;
    }
  } catch {
    // not JSON: not an offer
  }
  return null;
}

function isFileId(v: unknown): v is FileId {
  const f = v as FileId | null;
  return typeof f === "object" && f !== null && Number.isSafeInteger(f.dev) && Number.isSafeInteger(f.ino);
}
