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
    if (!e) gens.set(g, (e = { generation: g, startedAt: parseLogTime(g)!, marker: null, markerKey: null, segments: [], bytes: 0 }));
    return e;
  };
  const markers: string[] = [];
  for await (const o of listAll(store, { prefix: "lifeboat-log_" })) {
    const seg = parseSegmentKey(o.key);
    if (seg) {
      const g = get(seg.generation);
      g.segments.push({ ...seg, key: o.key, size: o.size });
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
  for (const g of out) g.segments.sort((a, b) => a.first - b.first);
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
 * incomplete and no later set of the generation is a complete base; null when it has a base. Never throws.
 */
export function missingBase(gens: LogGeneration[], gen: LogGeneration, sets: BackupSet[], storeDescription: string): string | null {
  if (!gen.marker || basesOf(gens, gen, sets).length > 0) return null;
  const first = sets.find((s) => s.id === gen.marker!.baseSetId);
  const state = first ? `is incomplete (missing: ${first.missing.map((k) => KIND_LABELS[k]).join(", ")})` : `is no longer in ${storeDescription}`;
  return `The base of generation ${gen.generation}, backup set ${gen.marker.baseSetId}, ${state}, and no later set of this generation is complete: its log has nothing to start from. Restore a complete set as it is.`;
}

/**
 * The complete Lifeboat sets that are bases of `gen`: its first base (the marker's), and every later
 * complete set taken before the next generation began — but not the next generation's own base, taken
 * just before it began, which holds the other database. Never throws.
 */
export function basesOf(gens: LogGeneration[], gen: LogGeneration, sets: BackupSet[]): BackupSet[] {
  const next = gens[gens.indexOf(gen) + 1];
  return sets.filter(
    (s) =>
      s.format === "lifeboat" &&
      s.missing.length === 0 &&
      (s.id === gen.marker?.baseSetId || (s.time >= gen.startedAt && (!next || (s.time < next.startedAt && s.id !== next.marker?.baseSetId)))),
  );
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
