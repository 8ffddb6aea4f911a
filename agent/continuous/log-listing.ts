import { listAll, type BackupStore } from "../../lib/storage/backup-store";
import { NotFoundError } from "../../lib/storage/errors";
import type { BackupSet } from "../../lib/backups/grouping";
import { KIND_LABELS } from "../../lib/contracts/backup-names";
import { GenerationMarker, generationKey, parseGenerationKey, parseSegmentKey, parseLogTime, type SegmentName } from "../../lib/contracts/continuous";

/** The log in the store, by generation (oldest first), each with its marker and its segments by revision. */
export interface LogGeneration {
  generation: string;
  startedAt: Date;
  marker: GenerationMarker | null;
  /** The marker object's key (null: none listed). */
  markerKey: string | null;
  /** With each object's size (the timeline's cache tells a replaced object by it). */
  segments: (SegmentName & { size: number })[];
  /**
   * Checkpoints of the open window (compaction.ts checkpointLog): never part of the run of segments
   * (their segments stay), only a shortcut a restore may take to a point after one. Sorted by `last`.
   */
  checkpoints: (SegmentName & { size: number })[];
  bytes: number;
}

async function readJson(store: BackupStore, key: string): Promise<unknown> {
  const parts: Buffer[] = [];
  for await (const c of await store.get(key)) parts.push(c as Buffer);
  return JSON.parse(Buffer.concat(parts).toString("utf8"));
}

/** Lists the log's objects and reads each generation's marker. Rejects with StorageError/NotFoundError. */
export async function listLog(store: BackupStore): Promise<LogGeneration[]> {
  const gens = new Map<string, LogGeneration>();
  const get = (g: string) => {
    let e = gens.get(g);
    if (!e) gens.set(g, (e = { generation: g, startedAt: parseLogTime(g)!, marker: null, markerKey: null, segments: [], checkpoints: [], bytes: 0 }));
    return e;
  };
  const markers: string[] = [];
  for await (const o of listAll(store, { prefix: "lifeboat-log_" })) {
    const seg = parseSegmentKey(o.key);
    if (seg) {
      const g = get(seg.generation);
      (seg.checkpoint ? g.checkpoints : g.segments).push({ ...seg, key: o.key, size: o.size });
      g.bytes += o.size;
      continue;
    }
    const gen = parseGenerationKey(o.key);
    if (gen) {
      get(gen).markerKey = o.key;
      markers.push(o.key);
    }
  }
  for (const key of markers) {
    // A marker gone since the listing (retention) or damaged leaves its generation without a base
    // (planPoint says so); a store that fails to answer fails the listing, as any other read.
    const json = await readJson(store, key).catch((err: unknown) => {
      if (err instanceof NotFoundError || err instanceof SyntaxError) return null;
      throw err;
    });
    const parsed = GenerationMarker.safeParse(json);
    if (parsed.success) get(parsed.data.generation).marker = parsed.data;
  }
  const out = [...gens.values()].sort((a, b) => a.generation.localeCompare(b.generation));
  for (const g of out) {
    g.segments.sort((a, b) => a.first - b.first);
    g.checkpoints.sort((a, b) => a.last - b.last || a.key.localeCompare(b.key));
  }
  return out;
}

/** Why a set the seed CronJob made cannot be brought forward with the log (it has no manifest with its revision). */
export const seedSetNotABase = (setId: string) =>
  `${setId} was made by the seed CronJob: the log brings only Lifeboat's own sets forward. Choose a Lifeboat set, or latest.`;

/** Why a generation without a marker cannot be restored to a point (its marker names its base). */
export function unknownBase(gen: LogGeneration): string {
  const state = gen.markerKey ? "damaged" : "missing";
  return `The marker of generation ${gen.generation} (${gen.markerKey ?? generationKey(gen.generation)}) is ${state}, so the base set its log starts from is not known: no point of this generation can be restored. Whole backup sets still restore as they are.`;
}

/**
 * Why no point of `gen` can be restored when its first base set (the marker's) is gone from the store or
 * incomplete and no later set of the generation is a complete base; null when it has a base. Throws
 * only what `revisionOf` throws.
 */
export async function missingBase(
  gens: LogGeneration[],
  gen: LogGeneration,
  sets: BackupSet[],
  storeDescription: string,
  revisionOf: (set: BackupSet) => Promise<number | null>,
): Promise<string | null> {
  if (!gen.marker) return null;
  const first = sets.find((s) => s.id === gen.marker!.baseSetId);
  // The marker's own base is always one, when it is complete: no manifest to read.
  if (first && isBaseSet(first)) return null;
  if ((await basesOf(gens, gen, sets, revisionOf)).bases.length > 0) return null;
  const state = first ? `is incomplete (missing: ${first.missing.map((k) => KIND_LABELS[k]).join(", ")})` : `is no longer in ${storeDescription}`;
  return `The base of generation ${gen.generation}, backup set ${gen.marker.baseSetId}, ${state}, and no later set of this generation is complete: its log has nothing to start from. Restore a complete set as it is.`;
}

const isBaseSet = (s: BackupSet) => s.format === "lifeboat" && s.missing.length === 0;

/**
 * How long before a set a segment must have been read for all its rows to tell about the set's
 * database: a segment's name keeps whole seconds, and the shipper takes its read time just before it
 * reads (its rows are those committed when its read began, a moment later).
 */
export const READ_SLACK_MS = 5_000;

/**
 * The highest revision this generation's database had certainly reached before a set taken at `time`,
 * and what says so; null when nothing does. A set's time is when its snapshot began (whole seconds, so
 * at or before it). The shipper reads one read after another, each one's time taken after the one
 * before it ended: the rows before a segment read (its name) before the set's second were committed
 * before the set began; so were a segment's own rows when it was read more than READ_SLACK_MS before.
 */
function reachedBefore(gen: LogGeneration, bases: GenerationBase[], time: Date): { revision: number; what: string } | null {
  let reached: { revision: number; what: string } | null = gen.marker
    ? { revision: gen.marker.baseRevision, what: `its first base ${gen.marker.baseSetId}` }
    : null;
  const above = (rev: number) => rev > (reached?.revision ?? -1);
  for (const seg of gen.segments) {
    if (seg.readAt.getTime() + READ_SLACK_MS < time.getTime() && above(seg.last))
      reached = { revision: seg.last, what: `segment ${seg.key}, read at ${seg.readAt.toISOString()}` };
    else if (seg.readAt < time && above(seg.first - 1))
      reached = { revision: seg.first - 1, what: `the reads before segment ${seg.key}, read at ${seg.readAt.toISOString()}` };
  }
  for (const b of bases) if (b.revision !== null && b.set.time < time && above(b.revision)) reached = { revision: b.revision, what: `base ${b.set.id}` };
  return reached;
}

/** A base of a generation, with its revision (null: its manifest could not be read). */
export interface GenerationBase {
  set: BackupSet;
  revision: number | null;
}

/**
 * The complete Lifeboat sets that are bases of `gen` (oldest first), and the other complete Lifeboat
 * sets taken while it was the newest generation, with why they are not (`notBases`). A base is the marker's
 * `baseSetId` (revision: the marker's `baseRevision`), and every later complete set taken before the next
 * generation began that holds this generation's database (revision: its manifest's), which is not:
 *
 * - the next generation's own base, taken just before it began, which holds the other database;
 * - when a next generation exists, a set taken after this generation's last segment was read: the
 *   database was replaced somewhere after that read (a restore, a new server), and such a set could
 *   only be a base of the point it ends at anyway (a base needs the segments after it);
 * - a set whose revision is below one this generation had already reached before the set was taken
 *   (reachedBefore: the segments read before it, the marker's base, an earlier base): kine's
 *   revision never goes back, so that set's database went back in history: a restore, whose new
 *   history the shipper gives a generation of its own once it notices (a Back up now right after a
 *   restore, before the shipper's new base; a crash between that base and its marker).
 *
 * Reads the later sets' revisions with `revisionOf` (null: unknown, and the set is kept as a base whose
 * revision is unknown: a planner skips it, retention keeps the whole generation). Throws only what
 * `revisionOf` throws.
 */
export async function basesOf(
  gens: LogGeneration[],
  gen: LogGeneration,
  sets: BackupSet[],
  revisionOf: (set: BackupSet) => Promise<number | null>,
): Promise<{ bases: GenerationBase[]; notBases: { set: BackupSet; why: string }[] }> {
  const next = gens[gens.indexOf(gen) + 1];
  const marker = gen.marker;
  const bases: GenerationBase[] = [];
  const notBases: { set: BackupSet; why: string }[] = [];
  const first = marker ? sets.find((s) => s.id === marker.baseSetId && isBaseSet(s)) : undefined;
  if (first) bases.push({ set: first, revision: marker!.baseRevision });
  const lastRead = gen.segments.reduce<Date | null>((t, s) => (t && t >= s.readAt ? t : s.readAt), null);
  // The next generation's own base is its, not this one's (not listed in notBases either: nothing to say).
  const later = sets
    .filter((s) => isBaseSet(s) && s !== first && s.time >= gen.startedAt && (!next || (s.time < next.startedAt && s.id !== next.marker?.baseSetId)))
    .sort((a, b) => a.time.getTime() - b.time.getTime());
  const revisions = await Promise.all(later.map(revisionOf));
  for (const [i, s] of later.entries()) {
    const rev = revisions[i];
    const reached = reachedBefore(gen, bases, s.time);
    if (rev !== null && reached && rev < reached.revision) {
      notBases.push({
        set: s,
        why: `${s.id} holds revision ${rev}, below revision ${reached.revision} that generation ${gen.generation} had reached before it was taken (${reached.what}): it is a backup of another database (one restored to an earlier point)`,
      });
      continue;
    }
    if (next && (!lastRead || s.time > lastRead)) {
      notBases.push({
        set: s,
        why: `${s.id} was taken after generation ${gen.generation} ${lastRead ? `last shipped rows (read at ${lastRead.toISOString()})` : "began, and it shipped no rows"} and before the next one began: the database may already have been replaced then`,
      });
      continue;
    }
    bases.push({ set: s, revision: rev });
  }
  return { bases, notBases };
}

/**
 * Whether object `s` straddles an end of checkpoint `c` (runs into it from before, or out of it past
 * its last revision): then `c` does not line up with the objects it would stand in for.
 */
export function straddles(c: SegmentName, s: SegmentName): boolean {
  return (s.first < c.first && s.last >= c.first) || (s.first <= c.last && s.last > c.last);
}

/**
 * The segments a restore uses: an object that a wider compacted segment covers (a compaction, or a
 * fold of compacted windows, cut short before it deleted what it folded) is left out, so points
 * inside a compacted range are consistently unreachable. Never throws.
 */
export function effectiveSegments<T extends SegmentName>(segments: T[]): T[] {
  const compacted = segments.filter((s) => s.compacted);
  const covers = (c: T, s: T) => c !== s && c.first <= s.first && s.last <= c.last && (!s.compacted || c.first < s.first || s.last < c.last);
  return segments.filter((s) => !compacted.some((c) => covers(c, s)));
}
