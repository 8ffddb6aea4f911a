import "server-only";
import type { CatalogSet } from "../contracts/catalog";
import type { RestoreCandidates, SetStats } from "./contracts";
import { proposeBackup } from "./proposal";
import { setStatsFrom } from "./set-stats";
import type { RestoreContext } from "./wizard-core";

/** The "Which backup" list: sets newest first with verification, flags and statistics, and the proposal. */
export async function restoreCandidates(ctx: RestoreContext, opts: { offset?: number; limit?: number } = {}): Promise<RestoreCandidates> {
  const all = ctx.catalog.sets();
  const offset = opts.offset ?? 0;
  const page = all.slice(offset, offset + (opts.limit ?? 20));
  const statsOf = new Map<string, SetStats | null>();
  const statsFor = async (s: CatalogSet) => {
    if (!statsOf.has(s.id))
      statsOf.set(s.id, setStatsFrom(s.objects.some((o) => o.kind === "manifest") ? await ctx.catalog.manifest(s) : null, ctx.drill(s.id)));
    return statsOf.get(s.id)!;
  };
  await Promise.all(page.map(statsFor));
  let result = proposeBackup(all, (id) => statsOf.get(id) ?? setStatsFrom(null, ctx.drill(id)));
  if (result.proposal && !statsOf.has(result.proposal.setId)) {
    const chosen = all.find((s) => s.id === result.proposal!.setId)!;
    await statsFor(chosen);
    result = proposeBackup(all, (id) => statsOf.get(id) ?? setStatsFrom(null, ctx.drill(id)));
  }
  return {
    proposal: result.proposal ?? null,
    noProposal: result.none ?? null,
    sets: page.map((set) => ({ set, stats: statsOf.get(set.id) ?? null, drill: ctx.drill(set.id) })),
    total: all.length,
    refreshedAt: null,
  };
}
