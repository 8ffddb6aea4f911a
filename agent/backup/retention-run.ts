import type { Logger } from "pino";
import type { BackupStore } from "../../lib/storage";
import { planRetention } from "../../lib/backups/retention";
import type { RetentionPolicy, RetentionReport } from "../../lib/contracts/agent-backup";
import { listLog } from "../continuous/log-listing";
import { applyLogRetention, planLogRetention } from "../continuous/log-retention";
import { readSetManifest } from "../restore/sources";
import { datastoreLockHolder } from "../restore/lock";
import { DomainError } from "../../lib/contracts/errors";
import { listStoreSets } from "./sets";

/**
 * Lists the store, plans retention (lib/backups/retention.ts: GFS, never seed sets, never incomplete
 * sets, never the newest complete set) and, unless `dryRun`, deletes the planned sets' objects, then
 * the continuous-protection log's objects no kept base needs (agent/continuous/log-retention.ts).
 * Within a set the manifest goes first, so a set whose deletion stops half-way is incomplete (and
 * ignored) rather than looking complete with parts missing. Both listings come before any deletion:
 * rejects with StorageError when either fails, having deleted nothing; individual failed deletions
 * are reported in `failed`. With `stateDir`, a run that would delete rejects with `datastore_busy`,
 * having deleted nothing, while a restore, drill or recovery holds the datastore lock: a restore or
 * drill may be reading the very set (or log segments) this run would delete.
 */
export async function runRetention(
  store: BackupStore,
  policy: RetentionPolicy,
  opts: {
    dryRun: boolean;
    log?: Logger;
    stateDir?: string;
    /** The sets a person agreed to delete (the CLI's question): a set planned now but not then is kept. */
    confirmed?: ReadonlySet<string>;
    /** Called as the run moves on (each deletion, each store answer): a backup job's stall watchdog is fed from it. */
    onProgress?: () => void;
  },
): Promise<RetentionReport> {
  const [listing, generations] = await Promise.all([listStoreSets(store), listLog(store)]);
  opts.onProgress?.();
  const busy = !opts.dryRun && opts.stateDir ? datastoreLockHolder({ stateDir: opts.stateDir }) : null;
  if (busy !== null)
    throw new DomainError(
      "datastore_busy",
      `Retention deleted nothing: a restore, drill or recovery (pid ${busy}) is at work and may be reading the backup sets it would delete. It runs again after the next backup; or run lifeboat-agent retention once that has ended.`,
    );
  const decisions = planRetention(
    listing.sets.map((s) => {
      const manifest = s.objects.find((o) => o.kind === "manifest");
      const uploadedAt = manifest && !Number.isNaN(Date.parse(manifest.lastModified)) ? new Date(manifest.lastModified) : undefined;
      return { id: s.id, format: s.format, time: s.time, complete: s.missing.length === 0, keys: s.objects.map((o) => o.key), uploadedAt };
    }),
    policy,
  ).map((d) =>
    d.action === "delete" && opts.confirmed && !opts.confirmed.has(d.setId)
      ? { ...d, action: "keep" as const, reasons: ["not in the plan you confirmed (it aged out while you were asked): the next run deletes it"] }
      : d,
  );
  const deleted: string[] = [];
  const failed: { key: string; message: string }[] = [];
  // The sets that are no longer bases: on a dry run, every planned one; else those whose manifest went.
  const gone = new Set<string>();
  for (const d of decisions.filter((x) => x.action === "delete")) {
    if (opts.dryRun) {
      gone.add(d.setId);
      continue;
    }
    const ordered = [...d.keys].sort((a, b) => Number(b.endsWith("_manifest.json")) - Number(a.endsWith("_manifest.json")));
    for (const key of ordered) {
      try {
        await store.delete(key);
        opts.onProgress?.();
        deleted.push(key);
        if (key.endsWith("_manifest.json")) gone.add(d.setId);
      } catch (err) {
        failed.push({ key, message: (err as Error).message });
        opts.log?.warn({ key, err: (err as Error).message }, "retention: delete failed");
        break; // keep the rest of this set; it is already incomplete if the manifest went
      }
    }
    opts.log?.info({ setId: d.setId, reasons: d.reasons }, "retention: deleted set");
  }
  const logPlan = await planLogRetention(generations, listing.sets, gone, async (s) => {
    const revision = (await readSetManifest({ store: () => store }, s))?.database.currentRevision ?? null;
    opts.onProgress?.();
    return revision;
  });
  const logRun = await applyLogRetention(store, logPlan, opts);
  const count = (a: string) => decisions.filter((d) => d.action === a).length;
  return {
    dryRun: opts.dryRun,
    policy,
    sets: decisions,
    summary: { keep: count("keep"), delete: count("delete"), ignore: count("ignore") },
    deleted: [...deleted, ...logRun.deleted],
    failed: [...failed, ...logRun.failed],
    log: logRun.report,
  };
}
