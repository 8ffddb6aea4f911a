import { DomainError } from "../../lib/contracts/errors";
import type { SegmentName } from "../../lib/contracts/continuous";
import type { BackupSet } from "../../lib/backups/grouping";
import type { AgentDeps } from "../module";
import { listStoreSets } from "../backup/sets";
import { readSetManifest } from "../restore/sources";
import { basesOf, effectiveSegments, listLog, missingBase, seedSetNotABase, straddles, unknownBase, type LogGeneration } from "./log-listing";

/**
 * Which base and which segments bring a database to a point: `--to-revision N` or `--to-time T`, from
 * a named set or "latest". A generation never mixes with another: the base and every segment come
 * from the one generation the point lies in (docs/continuous.md).
 */

export type PointTarget = { toRevision: number } | { toTime: string };

export interface PointPlan {
  generation: string;
  baseSetId: string;
  /** The base as the plan listed it: the stager resolves it without listing the store again. */
  baseSet: BackupSet;
  baseRevision: number;
  /** The revision the restore ends at. */
  target: number;
  /** When the target revision was read (null: the base itself). */
  targetReadAt: string | null;
  segments: SegmentName[];
  /** The newest revision this generation's log holds. */
  logEnd: number;
  /**
   * `--to-time` only: the folded object (log compaction) the time falls inside, whose points cannot be
   * restored, so the restore ends at its start, earlier than asked. Null otherwise.
   */
  foldedAfter: { key: string; first: number; last: number; readAt: string } | null;
}

/** No point of the log fits what was asked (`no_log_point`). */
export class NoLogPointError extends DomainError {
  constructor(message: string, details?: Record<string, unknown>) {
    super("no_log_point", message, details ? { details } : undefined);
  }
}

async function manifestRevision(deps: AgentDeps, set: BackupSet): Promise<number | null> {
  return (await readSetManifest(deps, set))?.database.currentRevision ?? null;
}

/** The generation a point of `setId` (or "latest") lies in. */
export function pickGeneration(gens: LogGeneration[], setId: string, set: BackupSet | undefined, target: PointTarget): LogGeneration | undefined {
  if (set) return gens.find((g) => g.marker?.baseSetId === setId) ?? [...gens].reverse().find((g) => g.startedAt <= set.time);
  if ("toTime" in target) return [...gens].reverse().find((g) => g.startedAt.getTime() <= Date.parse(target.toTime)) ?? gens[0];
  return gens[gens.length - 1];
}

/**
 * Plans a restore to a point. Throws NoLogPointError when there is no log, no such set, or the point
 * lies outside what the log and its bases hold; StorageError when the store cannot be listed.
 */
export async function planPoint(
  deps: AgentDeps,
  setId: string,
  target: PointTarget,
  /** `checkpoints: false`: the segments alone (a restore whose checkpoint turned out damaged, stage-point.ts). */
  opts: { checkpoints?: boolean } = {},
): Promise<PointPlan> {
  const store = deps.store();
  const [gens, { sets }] = await Promise.all([listLog(store), listStoreSets(store)]);
  if (gens.length === 0)
    throw new NoLogPointError(
      `${store.description} holds no continuous-protection log, so only whole backup sets can be restored. Run \`lifeboat-agent serve\` to ship one.`,
    );
  const named = setId === "latest" ? undefined : sets.find((s) => s.id === setId);
  if (setId !== "latest" && !named)
    throw new NoLogPointError(`There is no backup set ${setId} in ${store.description}. List the sets with \`lifeboat-agent list\`.`);
  if (named?.format === "seed") throw new NoLogPointError(seedSetNotABase(setId));
  const gen = pickGeneration(gens, setId, named, target);
  if (!gen) throw new NoLogPointError(`No generation of the log covers ${setId === "latest" ? "that point" : setId}.`);
  if (!gen.marker) throw new NoLogPointError(`${unknownBase(gen)} List them with \`lifeboat-agent list\`.`, { generation: gen.generation });
  const segs = effectiveSegments(gen.segments);
  const logEnd = segs.length ? segs[segs.length - 1].last : gen.marker.baseRevision;
  let want: number;
  let readAt: string | null = null;
  // The time asked for (`--to-time`), or null for a revision.
  let asked: number | null = null;
  if ("toTime" in target) {
    const t = Date.parse(target.toTime);
    if (Number.isNaN(t)) throw new NoLogPointError(`"${target.toTime}" is not a time: give an ISO time such as 2026-12-03T14:32:10Z.`);
    asked = t;
    const seg = [...segs].reverse().find((s) => s.readAt.getTime() <= t);
    want = seg ? seg.last : gen.marker.baseRevision;
    readAt = seg ? seg.readAt.toISOString() : null;
  } else want = target.toRevision;
  if (want > logEnd)
    throw new NoLogPointError(
      `The log of generation ${gen.generation} reaches revision ${logEnd}${segs.length ? ` (read at ${segs[segs.length - 1].readAt.toISOString()})` : ""}; choose a revision up to it.`,
    );
  const revisions = new Map<string, Promise<number | null>>();
  const revisionOf = (s: BackupSet) => {
    if (!revisions.has(s.id)) revisions.set(s.id, manifestRevision(deps, s));
    return revisions.get(s.id)!;
  };
  const { bases, notBases } = await basesOf(gens, gen, sets, revisionOf);
  // A named set that is not this generation's (another database's): its log cannot be applied to it.
  const foreign = named && notBases.find((n) => n.set.id === named.id);
  if (foreign)
    throw new NoLogPointError(`${foreign.why}. The log of generation ${gen.generation} cannot be applied to it: restore it as it is, or choose latest.`, {
      generation: gen.generation,
    });
  const candidates = named
    ? [
        bases.find((b) => b.set.id === named.id) ?? {
          set: named,
          revision: named.id === gen.marker.baseSetId ? gen.marker.baseRevision : await revisionOf(named),
        },
      ]
    : bases;
  let base: { set: BackupSet; revision: number } | null = null;
  for (const { set: s, revision: rev } of [...candidates].sort((a, b) => b.set.time.getTime() - a.set.time.getTime())) {
    if (rev !== null && rev <= want) {
      base = { set: s, revision: rev };
      break;
    }
  }
  if (!base) {
    // The generation's first base is gone or incomplete, and no later one is complete: no point of it has a base.
    const gone = named || gen.marker.baseRevision > want ? null : await missingBase(gens, gen, sets, store.description, revisionOf);
    if (gone) throw new NoLogPointError(`${gone} List the sets with \`lifeboat-agent list\`.`, { generation: gen.generation, baseSetId: gen.marker.baseSetId });
    throw new NoLogPointError(
      `No base set of generation ${gen.generation} is at or below revision ${want}${named ? ` (${named.id} is above it)` : ""}: choose a later point, or restore the set as it is.`,
    );
  }
  // A time older than the base: the base is the oldest state this generation holds, and it is newer than
  // the time asked for (restoring it would bring back what changed after that time).
  if ("toTime" in target && asked !== null && readAt === null && base.set.time.getTime() > asked)
    throw new NoLogPointError(
      `Nothing in the log is as old as ${new Date(asked).toISOString()}: ${named ? "the restore starts from" : `generation ${gen.generation} begins with`} backup set ${base.set.id}, taken at ${base.set.time.toISOString()} (revision ${base.revision}). Choose a time at or after it, or restore an older backup set as it is (\`lifeboat-agent list\`).`,
      { requested: target.toTime, earliest: base.set.time.toISOString(), earliestRevision: base.revision },
    );
  // A compacted segment holds only what kine's compaction kept at its end: it cannot stop inside.
  const inside = segs.find((s) => s.compacted && s.first <= want && want < s.last && want > base.revision);
  if (inside)
    throw new NoLogPointError(
      `Revision ${want} lies inside revisions ${inside.first}–${inside.last}, which compaction folded into one object (${inside.key}): points inside it cannot be restored. The nearest points are revision ${Math.max(inside.first - 1, base.revision)} and revision ${inside.last}: choose one with --to-revision.`,
      { requested: want, nearest: [Math.max(inside.first - 1, base.revision), inside.last] },
    );
  // A time inside a folded window: the point found is the window's start; say so (the restore warns).
  // (Not when the point was read at the very time asked: nothing lies between.)
  const next = asked !== null && (readAt === null || Date.parse(readAt) < asked) ? segs.find((s) => s.first === want + 1) : undefined;
  const foldedAfter =
    asked !== null && next?.compacted && next.readAt.getTime() > asked
      ? { key: next.key, first: next.first, last: next.last, readAt: next.readAt.toISOString() }
      : null;
  const needed = segs.filter((s) => s.last > base.revision && s.first <= want);
  return {
    foldedAfter,
    generation: gen.generation,
    baseSetId: base.set.id,
    baseSet: base.set,
    baseRevision: base.revision,
    target: want,
    targetReadAt: readAt,
    segments: opts.checkpoints === false ? needed : withCheckpoint(needed, gen.checkpoints, base.revision, want),
    logEnd,
  };
}

/**
 * The objects to apply, with the newest checkpoint that ends at or before the point (and after the
 * base) standing in for the segments it folded, and so on before it (docs/continuous.md, "Checkpoints"). A checkpoint is
 * taken only where it lines up with the objects: none of them straddles its first or its last revision
 * (a checkpoint from before a fold with another cut, or one the listing caught half-replaced, is
 * passed over). Like a compacted object, it may begin below the base's revision: its text gives the
 * same database over rows already there. Never throws.
 */
export function withCheckpoint<T extends SegmentName>(needed: T[], checkpoints: T[], baseRevision: number, want: number): T[] {
  const usable = checkpoints.filter(
    (c) => c.last <= want && c.last > baseRevision && needed.some((s) => s.last === c.last) && !needed.some((s) => straddles(c, s)),
  );
  if (!usable.length) return needed;
  const c = usable.reduce((a, b) => (b.last > a.last ? b : a));
  // Before it, an earlier window's checkpoint may stand in for that window's segments in turn (a window
  // closed but not folded yet).
  const before = withCheckpoint(
    needed.filter((s) => s.last < c.first),
    checkpoints.filter((x) => x.last < c.first),
    baseRevision,
    c.first - 1,
  );
  return [...before, { ...c, compacted: true }, ...needed.filter((s) => s.first > c.last)];
}
