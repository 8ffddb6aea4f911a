import "server-only";
import { parseObjectName } from "../contracts/backup-names";

/**
 * What an incremental catalog refresh lists. Backup names carry their timestamp right after a fixed
 * beginning (`k3s_db_`, `state_`, `lifeboat_`, under any folder), so the keys of one such name
 * series sort by time and everything new in it sorts after `<series><newest stamp>`. Listing each
 * series from there costs what is new (plus the newest set's own few objects, which keeps a set
 * that was still uploading at the last refresh whole), not the whole bucket. Anything else —
 * deletions, objects overwritten in place, stray names — waits for the full listing (reconcile).
 */
export interface ListRange {
  /** The series' fixed beginning, with its folder: `lifeboat_`, `backups/k3s/state_`. */
  prefix: string;
  /** `prefix` + the newest timestamp known in the series; absent: the whole series (none known yet). */
  startAfter?: string;
}

/** The fixed beginnings of the names the store's root may hold even when none is known yet. */
const ROOT_SERIES = ["k3s_db_", "lifeboat_", "state_"];

/** The ranges to list after the cached `keys` (pure). Every root series is listed, so a first set of a new kind shows up at once. */
export function incrementalRanges(keys: Iterable<string>): ListRange[] {
  const newest = new Map<string, string>();
  for (const key of keys) {
    const parsed = parseObjectName(key);
    if (!parsed) continue;
    const baseAt = key.lastIndexOf("/") + 1;
    const stampAt = key.indexOf(parsed.stamp, baseAt);
    const prefix = key.slice(0, stampAt);
    const known = newest.get(prefix);
    if (known === undefined || parsed.stamp > known) newest.set(prefix, parsed.stamp);
  }
  for (const p of ROOT_SERIES) if (!newest.has(p)) newest.set(p, "");
  return [...newest].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([prefix, stamp]) => (stamp ? { prefix, startAfter: prefix + stamp } : { prefix }));
}

/** Whether `key` lies in what `ranges` listed (so its absence from that listing means it is gone). */
export function coveredBy(ranges: readonly ListRange[]): (key: string) => boolean {
  return (key) => ranges.some((r) => key.startsWith(r.prefix) && (r.startAfter === undefined || key > r.startAfter));
}
