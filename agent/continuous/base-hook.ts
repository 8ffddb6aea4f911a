/**
 * Backups tell the log about themselves: the first generation begins at the first backup set this
 * agent takes (nightly, "Back up now" or the CLI inside `serve`), so turning the log on never starts a
 * backup nobody asked for. A later generation (the database replaced) takes its base at once.
 */

export interface BackupDone {
  setId: string;
  revision: number;
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
