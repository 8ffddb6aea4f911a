import { KIND_NOUNS } from "../../backups/anomalies";
import { describeBytes, describeDuration } from "../../backups/describe";
import { countsAsBackup } from "../../backups/grouping";
import type { ObjectKind, SetFormat } from "../../contracts/backup-names";
import type { KineStats } from "../../contracts/manifest";
import type { AlertCandidate, AlertInput, ManifestFacts, RuleConfig, RuleOutcome, RuleSet } from "./types";

/**
 * The rules over the backup catalog: growth, shrink, gap, stale, a failed restore drill, a store that
 * cannot be listed. Pure: plain inputs in, alerts out. Each looks at the NEWEST set of a kind (or a
 * format), so an old flagged set never keeps an alert firing once a normal set followed it.
 */

const n = (x: number) => x.toLocaleString("en-US");
const setPath = (id: string) => `/backups/${encodeURIComponent(id)}`;
const FORMAT_WORDS: Record<SetFormat, string> = { seed: "the seed CronJob's", lifeboat: "Lifeboat's" };

/** The newest set holding each object kind, and the newest set of each format (one pass, newest first). */
export function newestSets(sets: readonly RuleSet[]): { byKind: Map<ObjectKind, RuleSet>; byFormat: Map<SetFormat, RuleSet> } {
  const byKind = new Map<ObjectKind, RuleSet>();
  const byFormat = new Map<SetFormat, RuleSet>();
  for (const s of sets) {
    if (!countsAsBackup(s)) continue;
    if (!byFormat.has(s.format)) byFormat.set(s.format, s);
    for (const o of s.objects) if (!byKind.has(o.kind)) byKind.set(o.kind, s);
    if (byFormat.size === 2 && byKind.size === 6) break;
  }
  return { byKind, byFormat };
}

/** The largest difference in rows among the top key prefixes of two manifests: "what grew". */
function whatGrew(prev: KineStats, cur: KineStats): string {
  const before = new Map(prev.topPrefixesByBytes.map((p) => [p.prefix, p.bytes]));
  let best: { prefix: string; delta: number } | null = null;
  for (const p of cur.topPrefixesByBytes) {
    const delta = p.bytes - (before.get(p.prefix) ?? 0);
    if (delta > 0 && (!best || delta > best.delta)) best = { prefix: p.prefix, delta };
  }
  const parts = [`kine rows ${n(prev.rowCount)} → ${n(cur.rowCount)}`, `compaction lag ${n(prev.compactionLag)} → ${n(cur.compactionLag)} revisions`];
  if (best) parts.push(`most of it under ${best.prefix} (+${describeBytes(best.delta)})`);
  return parts.join(", ");
}

/** The growth alert's summary: the explanation's first line when there is one, the flag's reason, and what grew when the manifests say. */
function growthSummary(set: RuleSet, kind: ObjectKind, reason: string, input: AlertInput): string {
  const head = `The newest ${KIND_NOUNS[kind][0]} (${set.id}) grew: ${reason}`;
  const explanation = input.catalog.explanationLine?.(set.id) ?? null;
  const manifests = input.catalog.manifests;
  const i = manifests.findIndex((m) => m.setId === set.id);
  const grew = i >= 0 && manifests[i + 1] ? ` What grew: ${whatGrew(manifests[i + 1].stats, manifests[i].stats)}.` : "";
  return explanation ? `${explanation} — ${head}${grew}` : `${head}${grew}`;
}

/** LifeboatBackupGrowth and LifeboatBackupShrink: the newest set of each kind, by its flag (the flag's level is the severity). */
export function sizeRules(input: AlertInput, byKind: Map<ObjectKind, RuleSet>): RuleOutcome[] {
  const growth: AlertCandidate[] = [];
  const shrink: AlertCandidate[] = [];
  for (const [kind, set] of byKind) {
    for (const a of set.anomalies) {
      if (a.kind !== kind) continue;
      if (a.type === "growth")
        growth.push({
          key: `LifeboatBackupGrowth:${kind}`,
          name: "LifeboatBackupGrowth",
          severity: a.level,
          summary: growthSummary(set, kind, a.reason, input),
          setId: set.id,
          node: null,
          path: setPath(set.id),
        });
      else if (a.type === "shrink" && !shrink.some((c) => c.key === `LifeboatBackupShrink:${kind}`))
        shrink.push({
          key: `LifeboatBackupShrink:${kind}`,
          name: "LifeboatBackupShrink",
          severity: a.level,
          summary: `The newest ${KIND_NOUNS[kind][0]} (${set.id}) shrank: ${a.reason}`,
          setId: set.id,
          node: null,
          path: setPath(set.id),
        });
    }
  }
  return [
    { name: "LifeboatBackupGrowth", known: true, firing: growth },
    { name: "LifeboatBackupShrink", known: true, firing: shrink },
  ];
}

/** LifeboatBackupGap (per format) and LifeboatBackupStale (the newest set overall), from the catalog's flags. */
export function timingRules(input: AlertInput, byFormat: Map<SetFormat, RuleSet>): RuleOutcome[] {
  const gap: AlertCandidate[] = [];
  const stale: AlertCandidate[] = [];
  for (const [format, set] of byFormat) {
    for (const a of set.anomalies) {
      if (a.type === "gap")
        gap.push({
          key: `LifeboatBackupGap:${format}`,
          name: "LifeboatBackupGap",
          severity: a.level,
          summary: `Before ${FORMAT_WORDS[format]} newest backup (${set.id}): ${a.reason}`,
          setId: set.id,
          node: null,
          path: setPath(set.id),
        });
      else if (a.type === "stale")
        stale.push({
          key: "LifeboatBackupStale",
          name: "LifeboatBackupStale",
          severity: a.level,
          summary: `No new backup: ${a.reason.replace(/^The newest backup/, `the newest backup (${set.id})`)}`,
          setId: set.id,
          node: null,
          path: setPath(set.id),
        });
    }
  }
  // A store listed whole that holds no set counting as a backup (empty, another path than the
  // backups go to, or only uploads that never finished): nothing is protected, and no set can go stale.
  // While the store fails, an empty last listing says nothing new: LifeboatCatalogUnavailable speaks.
  const c = input.catalog;
  const noBackup = byFormat.size === 0 && c.configured && c.refreshedAt !== null && !c.partial;
  if (noBackup && !c.error)
    stale.push({
      key: "LifeboatBackupStale",
      name: "LifeboatBackupStale",
      severity: "critical",
      summary: `The store holds no complete backup set${c.sets.length ? ` (${n(c.sets.length)} incomplete upload${c.sets.length === 1 ? "" : "s"}, none with all its objects)` : ""}: backups have not run yet, or they go to another bucket or AWS_S3_PATH than the dashboard reads.`,
      setId: null,
      node: null,
      path: "/backups",
    });
  return [
    { name: "LifeboatBackupGap", known: true, firing: gap },
    { name: "LifeboatBackupStale", known: !(noBackup && c.error), firing: stale.slice(0, 1) },
  ];
}

/** LifeboatRestoreDrillFailed: per format, the newest set whose drill has finished failed it. */
export function drillRule(input: AlertInput): RuleOutcome {
  const firing: AlertCandidate[] = [];
  const decided = new Set<SetFormat>();
  const v = input.catalog.verifications;
  if (v.size > 0)
    for (const s of input.catalog.sets) {
      if (decided.has(s.format)) continue;
      const d = v.get(s.id);
      if (!d || (d.state !== "verified" && d.state !== "failed")) continue;
      decided.add(s.format);
      if (d.state === "failed")
        firing.push({
          key: `LifeboatRestoreDrillFailed:${s.format}`,
          name: "LifeboatRestoreDrillFailed",
          severity: "critical",
          summary: `The restore drill of ${s.id} failed: ${d.reason ?? "no reason recorded"} This backup may not restore.`,
          setId: s.id,
          node: null,
          path: setPath(s.id),
        });
      if (decided.size === 2) break;
    }
  return { name: "LifeboatRestoreDrillFailed", known: true, firing };
}

const STORE_FAILURE: Record<string, string> = {
  unreachable: "the store does not answer",
  auth: "the store refused the credentials",
  no_bucket: "the bucket does not exist",
  cache: "the dashboard could not write lifeboat.db",
};

/**
 * LifeboatCatalogUnavailable: the store cannot be listed. Refused credentials and a missing bucket
 * alert at once (they do not heal by themselves); an unreachable store only once nothing was listed
 * for `catalogGraceMs`, so one dropped request at night is not a page.
 */
export function catalogRule(input: AlertInput, cfg: RuleConfig): RuleOutcome {
  const c = input.catalog;
  if (!c.configured || !c.error) return { name: "LifeboatCatalogUnavailable", known: true, firing: [] };
  const since = c.refreshedAt ? Date.parse(c.refreshedAt) : null;
  const lasting = since === null || input.now.getTime() - since >= Math.max(cfg.catalogGraceMs, 2 * c.refreshIntervalMs);
  const immediate = c.error.failure === "auth" || c.error.failure === "no_bucket";
  if (!immediate && !lasting) return { name: "LifeboatCatalogUnavailable", known: true, firing: [] };
  const why = STORE_FAILURE[c.error.failure] ?? "listing failed";
  const age = since === null ? "it was never listed" : `the last good listing is ${describeDuration(input.now.getTime() - since)} old`;
  return {
    name: "LifeboatCatalogUnavailable",
    known: true,
    firing: [
      {
        key: "LifeboatCatalogUnavailable",
        name: "LifeboatCatalogUnavailable",
        severity: "critical",
        summary: `The backup catalog cannot list the store (${why}): ${c.error.message} — ${age}; new backups, gaps and growth go unseen until it works again.`,
        setId: null,
        node: null,
        path: "/backups",
      },
    ],
  };
}

/** True when each of the manifests' compaction lags (newest first) rose by at least `minRise` over the one before. */
export function compactionRising(manifests: readonly ManifestFacts[], minRise: number): boolean {
  if (manifests.length < 3) return false;
  const [c, b, a] = manifests.map((m) => m.stats.compactionLag);
  return b - a >= minRise && c - b >= minRise;
}
