import type { Logger } from "pino";
import type { BackupStore } from "../../lib/storage/backup-store";
import type { BackupSet } from "../../lib/backups/grouping";
import type { LogRetention, LogRetentionGeneration } from "../../lib/contracts/agent-backup";
import { basesOf, type LogGeneration } from "./log-listing";

/**
 * Retention of the continuous-protection log: segments are kept while their base is kept
 * (docs/continuous.md, "Retention"). A base is a complete Lifeboat set of the generation (log-listing.ts
 * basesOf); its revision is the marker's `baseRevision` for the generation's first base, else its
 * manifest's `database.currentRevision` — what the point-in-time restore uses.
 *
 * - An old generation (not the newest) with no kept base: its segments go, then its marker.
 * - Otherwise the segments whose `last` is at or below the oldest kept base's revision go: no kept base
 *   needs them (a restore from a base applies only the segments after its revision).
 * - Anything uncertain (a marker that cannot be read, a base whose revision cannot be read) keeps the
 *   whole generation.
 *
 * Deletions go oldest first, so a run that stops half-way leaves the log shorter at its old end, never
 * with a hole a restore would walk into.
 */

/** Plans the log's retention; `gone` are the sets this retention run deletes (or would). Never throws: `revisionOf` resolves null when it cannot tell. */
export async function planLogRetention(
  gens: LogGeneration[],
  sets: BackupSet[],
  gone: ReadonlySet<string>,
  revisionOf: (set: BackupSet) => Promise<number | null>,
): Promise<LogRetentionGeneration[]> {
  const out: LogRetentionGeneration[] = [];
  for (const [i, gen] of gens.entries()) {
    const current = i === gens.length - 1;
    const segs = [...gen.segments].sort((a, b) => a.first - b.first);
    // Judged over every set, the ones this run deletes too: they still say what each generation reached.
    const { bases, notBases } = gen.marker ? await basesOf(gens, gen, sets, revisionOf) : { bases: [], notBases: [] };
    const kept = bases.filter((b) => !gone.has(b.set.id));
    // Sets of another database taken while this generation was the newest: never its bases (log-listing.ts basesOf).
    const notes = notBases.filter((n) => !gone.has(n.set.id)).map((n) => `not a base: ${n.why}`);
    const checkpoints = gen.checkpoints;
    const decide = (action: LogRetentionGeneration["action"], reasons: string[], drop: typeof segs, oldest: number | null): LogRetentionGeneration => {
      // Checkpoints first (redundant: their segments stay), where their segments go or none of their
      // points is after the oldest kept base any more.
      const cps = action === "delete" ? checkpoints : action === "trim" && oldest !== null ? checkpoints.filter((c) => c.last <= oldest) : [];
      const keys = [...cps.map((c) => c.key), ...drop.map((s) => s.key)];
      // The marker last: while any segment is left, it says what the segments belong to.
      if (action === "delete" && gen.markerKey) keys.push(gen.markerKey);
      const bytes = [...segs, ...checkpoints].reduce((n, s) => n + s.size, 0);
      const bytesDeleted = [...drop, ...cps].reduce((n, s) => n + s.size, 0);
      return {
        generation: gen.generation,
        action,
        reasons: [...reasons, ...notes],
        keptBases: kept.map((b) => b.set.id).sort(),
        oldestKeptBaseRevision: oldest,
        segmentsKept: segs.length - drop.length,
        segmentsDeleted: drop.length,
        bytesKept: bytes - bytesDeleted,
        bytesDeleted,
        keys,
      };
    };
    if (!gen.marker) {
      out.push(decide("keep", ["its marker could not be read, so which sets are its bases is unknown: left alone"], [], null));
      continue;
    }
    if (kept.length === 0) {
      if (current) out.push(decide("keep", ["the current generation (the newest): kept whatever retention does to its bases"], [], null));
      else out.push(decide("delete", ["an older generation none of whose bases is kept: no restore can use its segments"], segs, null));
      continue;
    }
    const revisions: number[] = [];
    let unknown: string | null = null;
    for (const { set: s, revision: rev } of kept) {
      if (rev === null) unknown ??= s.id;
      else revisions.push(rev);
    }
    if (unknown) {
      out.push(decide("keep", [`the revision of its base ${unknown} could not be read (its manifest): left alone`], [], null));
      continue;
    }
    const oldest = Math.min(...revisions);
    const drop = segs.filter((s) => s.last <= oldest);
    const why = `segments up to revision ${oldest}, the oldest kept base's (${kept.length} kept base${kept.length === 1 ? "" : "s"}), are needed by none`;
    out.push(decide(drop.length ? "trim" : "keep", [drop.length ? why : `every segment is after revision ${oldest}, the oldest kept base's`], drop, oldest));
  }
  return out;
}

/**
 * Deletes what the plan says (unless `dryRun`), oldest first within each generation; a failed deletion
 * stops that generation (its marker stays) and is reported in `failed`. Returns the log's part of the
 * retention report. Never throws.
 */
export async function applyLogRetention(
  store: BackupStore,
  plan: LogRetentionGeneration[],
  opts: { dryRun: boolean; log?: Logger; onProgress?: () => void },
): Promise<{ report: LogRetention; deleted: string[]; failed: { key: string; message: string }[] }> {
  const deleted: string[] = [];
  const failed: { key: string; message: string }[] = [];
  if (!opts.dryRun) {
    for (const g of plan) {
      for (const key of g.keys) {
        try {
          await store.delete(key);
          opts.onProgress?.();
          deleted.push(key);
        } catch (err) {
          failed.push({ key, message: (err as Error).message });
          opts.log?.warn({ key, err: (err as Error).message }, "retention: log delete failed");
          break; // the rest of this generation stays: it is still one unbroken run from its new start
        }
      }
      if (g.keys.length) opts.log?.info({ generation: g.generation, action: g.action, segments: g.segmentsDeleted }, "retention: log trimmed");
    }
  }
  const sum = (f: (g: LogRetentionGeneration) => number) => plan.reduce((n, g) => n + f(g), 0);
  return {
    report: {
      generations: plan,
      summary: {
        generationsKept: plan.filter((g) => g.action !== "delete").length,
        generationsDeleted: plan.filter((g) => g.action === "delete").length,
        segmentsKept: sum((g) => g.segmentsKept),
        segmentsDeleted: sum((g) => g.segmentsDeleted),
        bytesFreed: sum((g) => g.bytesDeleted),
      },
    },
    deleted,
    failed,
  };
}
