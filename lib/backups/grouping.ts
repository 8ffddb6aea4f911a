import { isLogObjectKey } from "../contracts/continuous";
import { OBJECT_KINDS, missingKinds, parseObjectName, type ObjectKind, type SetFormat } from "../contracts/backup-names";
import type { CatalogObject, OtherObject } from "../contracts/catalog";

/** One object as a listing returns it (BackupStore's StoredObject or a cached row). */
export interface ListedObject {
  key: string;
  size: number;
  lastModified: Date | string;
}

/** A backup set: the objects that share one timestamp and one naming format. */
export interface BackupSet {
  /** `seed-<stamp>` or `lifeboat-<stamp>`. */
  id: string;
  format: SetFormat;
  /** `YYYY-MM-DD_HH-MM-SS` (UTC), as written in the object names. */
  stamp: string;
  time: Date;
  /** In the order of OBJECT_KINDS (data first, manifest last). */
  objects: CatalogObject[];
  /** Kinds a complete set of this format has that this one lacks. */
  missing: ObjectKind[];
}

export interface GroupedListing {
  /** Newest first. */
  sets: BackupSet[];
  /** Everything that is not part of a set (unknown names, impossible dates, duplicates), in key order. */
  other: OtherObject[];
  /** Continuous protection's objects (`lifeboat-log_…`, lib/contracts/continuous.ts): known, so not "other"; counted apart. */
  log: { objects: number; bytes: number };
}

const KIND_ORDER = new Map(OBJECT_KINDS.map((k, i) => [k, i]));
const iso = (d: Date | string) => (typeof d === "string" ? d : d.toISOString());

const folderOf = (key: string) => key.slice(0, key.lastIndexOf("/") + 1);
const depth = (folder: string) => folder.split("/").length;

/**
 * Turns an object listing into backup sets. Objects are recognised by their base name
 * (parseObjectName); anything else is listed in `other` — never dropped. A set's objects come from
 * one folder: when names of one set lie in several (another cluster's sets under a longer prefix, a
 * copy kept by hand), the shallowest folder's (the store's own top first; then the first by name)
 * make the set, and the others' are listed in `other`, so a set never takes another folder's
 * objects in place of, or beside, its own.
 */
export function groupObjects(objects: Iterable<ListedObject>): GroupedListing {
  const byId = new Map<string, { set: BackupSet; folder: string }>();
  const other: OtherObject[] = [];
  const log = { objects: 0, bytes: 0 };
  const toOther = (o: ListedObject) => other.push({ key: o.key, size: o.size, lastModified: iso(o.lastModified) });
  for (const o of objects) {
    if (isLogObjectKey(o.key)) {
      log.objects++;
      log.bytes += o.size;
      continue;
    }
    const parsed = parseObjectName(o.key);
    if (!parsed) {
      toOther(o);
      continue;
    }
    const folder = folderOf(o.key);
    let entry = byId.get(parsed.setId);
    if (entry && entry.folder !== folder) {
      const shallower = depth(folder) - depth(entry.folder) || (folder < entry.folder ? -1 : 1);
      if (shallower > 0) {
        toOther(o);
        continue;
      }
      for (const x of entry.set.objects) toOther(x);
      entry = undefined;
    }
    if (!entry) {
      entry = { set: { id: parsed.setId, format: parsed.format, stamp: parsed.stamp, time: parsed.time, objects: [], missing: [] }, folder };
      byId.set(parsed.setId, entry);
    }
    const set = entry.set;
    if (set.objects.some((x) => x.kind === parsed.kind)) {
      toOther(o);
      continue;
    }
    set.objects.push({ key: o.key, kind: parsed.kind, size: o.size, lastModified: iso(o.lastModified) });
  }
  const sets = [...byId.values()].map((e) => e.set);
  for (const s of sets) {
    s.objects.sort((a, b) => KIND_ORDER.get(a.kind)! - KIND_ORDER.get(b.kind)!);
    s.missing = missingKinds(s.format, new Set(s.objects.map((x) => x.kind)));
  }
  sets.sort(newestFirst);
  other.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { sets, other, log };
}

/** Sort comparator: newest set first; ties (a seed and a Lifeboat set in the same second) by id. */
export function newestFirst(a: Pick<BackupSet, "time" | "id">, b: Pick<BackupSet, "time" | "id">): number {
  return b.time.getTime() - a.time.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * Whether a set is a backup: a Lifeboat set once its manifest (written last) is there — without it,
 * the objects of an upload still running or one that died part way —, a seed set whenever it has an
 * object. Intervals, staleness and the alert rules count only these.
 */
export function countsAsBackup(s: { format: SetFormat; missing: readonly ObjectKind[] }): boolean {
  return s.format === "seed" || !s.missing.includes("manifest");
}

/** Total bytes of a set's objects. */
export function setSize(set: Pick<BackupSet, "objects">): number {
  return set.objects.reduce((n, o) => n + o.size, 0);
}

/**
 * The folder below the store's prefix that holds a set (keys are relative to the prefix), or null
 * for a set at the store's top, where the agent writes. A set in a folder is another agent's (another
 * cluster's store under a longer prefix) or a copy kept by hand: retention leaves it alone, and
 * "latest" and the passphrase check look only at the store's own sets.
 */
export function setFolder(set: Pick<BackupSet, "objects">): string | null {
  const nested = set.objects.find((o) => o.key.includes("/"));
  return nested === undefined ? null : nested.key.slice(0, nested.key.lastIndexOf("/") + 1);
}

/**
 * When a set was taken at the latest: its name's time, or when the store received its newest object
 * when that is earlier. A set named by a host clock that ran ahead (2030, uploaded tonight) holds
 * tonight's database, not one newer than every later backup.
 */
export function takenBy(set: Pick<BackupSet, "time" | "objects">): Date {
  const t = set.time.getTime();
  const earlier = receivedBefore(t, set.objects);
  return earlier === t ? set.time : new Date(earlier);
}

/**
 * `named` (ms since the epoch: a time a name says), or when the store received the newest of
 * `objects` when that is earlier — by the store's clock, not the host's that named them. The one
 * rule for a name dated ahead: `takenBy`, the stale flag and the newest set's metric read it.
 * Objects without a readable time say nothing.
 */
export function receivedBefore(named: number, objects: Iterable<{ lastModified?: Date | string }>): number {
  let received = -Infinity;
  for (const o of objects) {
    const t = o.lastModified === undefined ? NaN : new Date(o.lastModified).getTime();
    if (t > received) received = t;
  }
  return received > -Infinity && received < named ? received : named;
}
