import { listAll, type BackupStore } from "../../lib/storage/backup-store";
import { groupObjects, setSize, type BackupSet } from "../../lib/backups/grouping";
import type { ListedSet } from "../../lib/contracts/agent-backup";

export interface StoreListing {
  /** Newest first, as the dashboard's catalog groups them (lib/backups/grouping). */
  sets: BackupSet[];
  other: { key: string; size: number; lastModified: string }[];
}

/** Lists every object in the store and groups them into sets. Rejects with StorageError/NotFoundError. */
export async function listStoreSets(store: BackupStore): Promise<StoreListing> {
  const objects = [];
  for await (const o of listAll(store)) objects.push(o);
  return groupObjects(objects);
}

/** The wire shape of a set (GET /backups, `lifeboat-agent list`). */
export function toListedSet(s: BackupSet): ListedSet {
  return {
    id: s.id,
    format: s.format,
    timestamp: s.time.toISOString(),
    complete: s.missing.length === 0,
    missing: s.missing,
    objects: s.objects,
    size: setSize(s),
  };
}
