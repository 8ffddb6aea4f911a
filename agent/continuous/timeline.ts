import type { LogTimeline, SegmentName, TimelineGap, TimelinePoint, TimelineQuery } from "../../lib/contracts/continuous";
import { hasErrorCode } from "../../lib/contracts/errors";
import { NotFoundError, isStorageError } from "../../lib/storage/errors";
import { WrongPassphraseError } from "../archive";
import type { AgentDeps } from "../module";
import { readPassphrase } from "../config";
import { listStoreSets } from "../backup/sets";
import { readSetManifest } from "../restore/sources";
import type { BackupSet } from "../../lib/backups/grouping";
import { basesOf, effectiveSegments, listLog, missingBase, seedSetNotABase, unknownBase } from "./log-listing";
import { pickGeneration } from "./point-in-time";
import { decodeSegment } from "./segment-codec";
import { wholeSegmentHeader } from "./segment-format";
import { segmentChanges } from "./segment-changes";

/**
 * The points a restore can reach after a base (GET /continuous/timeline): the segments of the base's
 * generation with their revisions and read times, and the objects each one changes — read from the
 * segments themselves, since the live database may be the broken thing. Bounded: only the newest
 * `segments` are opened (it says where it stopped), at most MAX_LISTED changes are listed. Segments
 * never change once written, so what one holds is kept in memory by its key (and size: an object
 * replaced in the store, e.g. damaged, is read again).
 */

/** Changes listed per point and in all; the rest are counted. */
const MAX_PER_POINT = 200;
const MAX_LISTED = 5000;
/** Segments whose changes stay in memory (a few KB each: names, no values). */
const CACHE_SIZE = 1000;
const PARALLEL = 3;

type Read = { ok: true; changes: TimelinePoint["changes"]; churn: number; omitted: number } | { ok: false; why: string; wrongPassphrase?: boolean };
const cache = new Map<string, Read & { ok: true }>();

/** Forgets every segment read (tests: to read the store again as a new agent would). */
export function clearTimelineCache(): void {
  cache.clear();
}

function remember(key: string, r: Read & { ok: true }): void {
  cache.set(key, r);
  if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
}

/** Opens one segment and reads its changes; a segment that does not open or is not whole is `ok: false` (a gap), a store that fails throws. */
async function readSegment(deps: AgentDeps, seg: SegmentName & { size: number }, passphrase: string): Promise<Read> {
  const store = deps.store();
  const cacheKey = `${store.description}\n${seg.key}\n${seg.size}`;
  const hit = cache.get(cacheKey);
  if (hit) return hit;
  let sql: string;
  try {
    sql = await decodeSegment(await store.get(seg.key), passphrase);
  } catch (err) {
    if (err instanceof NotFoundError) return { ok: false, why: `Segment ${seg.key} is listed but no longer in the store.` };
    if (isStorageError(err)) throw err;
    return {
      ok: false,
      why: `Segment ${seg.key} could not be read (${(err as Error).message.replace(/\.$/, "")}).`,
      wrongPassphrase: hasErrorCode(err, "wrong_passphrase"),
    };
  }
  if (!wholeSegmentHeader(sql, seg)) return { ok: false, why: `Segment ${seg.key} is damaged (its text is not the whole segment its name says).` };
  const { changes, churn, omitted } = segmentChanges(sql, seg.first, seg.last, MAX_PER_POINT);
  const r = { ok: true as const, changes, churn, omitted };
  remember(cacheKey, r);
  return r;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

function unavailable(setId: string, why: string): LogTimeline {
  return {
    setId,
    available: false,
    why,
    generation: null,
    baseSetId: null,
    baseRevision: null,
    logEnd: null,
    logEndAt: null,
    points: [],
    gaps: [],
    newestReachable: null,
    segmentsTotal: 0,
    segmentsRead: 0,
    stopped: null,
  };
}

/**
 * The timeline after `setId` (a set id or "latest"). `off` is why protection is not shipping, when it
 * is not (added to the answer when there is no log). Throws StorageError when the store cannot be listed
 * or read, WrongPassphraseError when no segment opens with the passphrase; a segment that is missing or
 * damaged is a gap in the answer, never an error.
 */
export async function readTimeline(deps: AgentDeps, q: TimelineQuery, off: string | null = null): Promise<LogTimeline> {
  const store = deps.store();
  const [gens, { sets }] = await Promise.all([listLog(store), listStoreSets(store)]);
  const { setId } = q;
  if (gens.length === 0)
    return unavailable(
      setId,
      `${store.description} holds no continuous-protection log, so only whole backup sets can be restored. ${off ?? "The log begins with the first backup `lifeboat-agent serve` takes."}`,
    );
  const named = setId === "latest" ? undefined : sets.find((s) => s.id === setId);
  if (setId !== "latest" && !named) return unavailable(setId, `There is no backup set ${setId} in ${store.description}.`);
  if (named?.format === "seed") return unavailable(setId, seedSetNotABase(setId));
  const gen = pickGeneration(gens, setId, named, { toRevision: 0 });
  if (!gen) return unavailable(setId, `No generation of the log begins at or after ${setId === "latest" ? "the newest base" : setId}.`);
  if (!gen.marker) return unavailable(setId, unknownBase(gen));
  const revisions = new Map<string, Promise<number | null>>();
  const revisionOf = (s: BackupSet) => {
    if (!revisions.has(s.id))
      revisions.set(
        s.id,
        readSetManifest(deps, s).then((m) => m?.database.currentRevision ?? null),
      );
    return revisions.get(s.id)!;
  };
  const gone = named ? null : await missingBase(gens, gen, sets, store.description, revisionOf);
  if (gone) return unavailable(setId, gone);
  // "latest": the oldest base left (retention may have removed the marker's own, and the segments up to
  // the next base with it), as planPoint picks the newest base at or below each point.
  const { bases, notBases } = await basesOf(gens, gen, sets, revisionOf);
  // A named set of another database (planPoint refuses it): the log of this generation has no point after it.
  const foreign = named && notBases.find((n) => n.set.id === named.id);
  if (foreign)
    return unavailable(setId, `${foreign.why}. The log of generation ${gen.generation} cannot be applied to it: restore it as it is, or choose latest.`);
  const oldest = named ? undefined : bases.find((b) => b.revision !== null);
  const baseSetId = named?.id ?? oldest?.set.id ?? gen.marker.baseSetId;
  const baseRevision = oldest
    ? oldest.revision
    : !named || named.id === gen.marker.baseSetId
      ? gen.marker.baseRevision
      : ((await readSetManifest(deps, named))?.database.currentRevision ?? null);
  if (baseRevision === null) return unavailable(setId, `${setId} has no manifest with its revision, so the log cannot be applied to it.`);

  // As planPoint lists them: originals a compacted object covers (a compaction cut short) are not points.
  const segs = effectiveSegments(gen.segments).filter((s) => s.last > baseRevision);
  const logEnd = segs.length ? segs[segs.length - 1].last : baseRevision;
  const gaps: TimelineGap[] = [];
  let next = baseRevision + 1;
  for (const s of segs) {
    if (s.first > next)
      gaps.push({ lostFrom: next, lostTo: s.first - 1, segment: null, why: `No segment holds revisions ${next}–${s.first - 1} (one is missing).` });
    next = Math.max(next, s.last + 1);
  }
  const toRead = segs.slice(-q.segments);
  const passphrase = toRead.length ? readPassphrase(deps.config) : "";
  const reads = await mapLimit(toRead, PARALLEL, (s) => readSegment(deps, s, passphrase));
  // Not one segment opens with this passphrase: the configuration is wrong, not the whole log lost.
  if (reads.length > 0 && reads.every((r) => !r.ok && r.wrongPassphrase)) throw new WrongPassphraseError();
  toRead.forEach((s, i) => {
    const r = reads[i];
    if (!r.ok) gaps.push({ lostFrom: s.first, lostTo: s.last, segment: s.key, why: r.why });
  });
  gaps.sort((a, b) => a.lostFrom - b.lostFrom);
  const firstGap = gaps[0];

  let listed = 0;
  let overCap = 0;
  const points: TimelinePoint[] = toRead.map((s, i) => {
    const r = reads[i];
    const reachable = !firstGap || s.last < firstGap.lostFrom;
    if (!r.ok)
      return {
        segment: s.key,
        first: s.first,
        last: s.last,
        readAt: s.readAt.toISOString(),
        state: "damaged",
        reachable,
        compacted: s.compacted === true,
        changes: [],
        churn: 0,
        changesOmitted: 0,
      };
    const after = r.changes.filter((c) => c.revision > baseRevision);
    const changes = after.slice(0, Math.max(0, MAX_LISTED - listed));
    overCap += after.length - changes.length;
    listed += changes.length;
    return {
      segment: s.key,
      first: s.first,
      last: s.last,
      readAt: s.readAt.toISOString(),
      state: "read",
      reachable,
      compacted: s.compacted === true,
      changes,
      churn: r.churn,
      changesOmitted: r.omitted + after.length - changes.length,
    };
  });
  const reachableEnd = firstGap ? firstGap.lostFrom - 1 : logEnd;
  const endSeg = segs.find((s) => s.last === reachableEnd);
  const stopped = [
    toRead.length < segs.length
      ? `Read the newest ${toRead.length} of ${segs.length} segments (revisions ${toRead[0].first}–${logEnd}); older points are not listed, and damage in them would show when staging.`
      : null,
    overCap ? `${overCap} more changes are not listed (at most ${MAX_LISTED}).` : null,
  ]
    .filter(Boolean)
    .join(" ");
  return {
    setId,
    available: true,
    why: null,
    generation: gen.generation,
    baseSetId,
    baseRevision,
    logEnd,
    logEndAt: segs.length ? segs[segs.length - 1].readAt.toISOString() : null,
    points,
    gaps,
    newestReachable: { revision: Math.max(baseRevision, reachableEnd), readAt: endSeg?.readAt.toISOString() ?? null },
    segmentsTotal: segs.length,
    segmentsRead: toRead.length,
    stopped: stopped || null,
  };
}
