import { statSync, promises as fsp } from "node:fs";

/**
 * Which file the database is: stat's device and inode. A restore or a new server puts another file at
 * the path (another inode); the log must then begin a new generation. A module of its own, with
 * nothing else of the log's: the backup job records the file its snapshot read (run-backup.ts).
 *
 * An inode number can be reused once its file is gone, so this is one check among others: the log
 * also compares rows (shipper.ts, generationBreak).
 */
export interface FileId {
  dev: number;
  ino: number;
}

/** The same file (device and inode). */
export function sameFile(a: FileId, b: FileId): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** The file at `file` now. Throws when there is none. */
export function fileAt(file: string): FileId {
  const st = statSync(file);
  return { dev: st.dev, ino: st.ino };
}

/** The file at `file` now; null when there is none or it cannot be looked at. */
export async function fileAtAsync(file: string): Promise<FileId | null> {
  const st = await fsp.stat(file).catch(() => null);
  return st ? { dev: st.dev, ino: st.ino } : null;
}
