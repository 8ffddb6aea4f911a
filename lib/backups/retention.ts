import type { SetFormat } from "../contracts/backup-names";
import type { RetentionDecision, RetentionPolicy } from "../contracts/agent-backup";

/** One backup set as retention sees it. */
export interface RetentionSet {
  id: string;
  format: SetFormat;
  time: Date;
  /** Every object of its format is present (a Lifeboat set: its manifest, uploaded last, exists). */
  complete: boolean;
  keys: string[];
  /** When the store received its manifest (the store's clock, not the host's that named the set); absent: unknown. */
  uploadedAt?: Date;
}

const pad = (n: number) => String(n).padStart(2, "0");
const dayKey = (t: Date) => `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}`;
const monthKey = (t: Date) => `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}`;

/** ISO 8601 week (UTC), e.g. "2024-W51": weeks start on Monday, week 1 holds the year's first Thursday. */
export function isoWeekKey(t: Date): string {
  // Not Date.UTC: it reads years 0-99 as 1900-1999.
  const d = new Date(t.getTime());
  d.setUTCHours(0, 0, 0, 0);
  const dow = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - dow); // the Thursday of this week decides its year
  const yearStart = new Date(0).setUTCFullYear(d.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${d.getUTCFullYear()}-W${pad(week)}`;
}

/** The folder (below the store's prefix) of the first of a set's objects not at the store's top, or null. */
function folderOf(s: RetentionSet): string | null {
  const nested = s.keys.find((k) => k.includes("/"));
  return nested === undefined ? null : nested.slice(0, nested.lastIndexOf("/") + 1);
}

/**
 * Plans retention (keep the last N sets plus the newest set of each of the last D days, W ISO weeks
 * and M months that have backups — "grandfather-father-son", counted like restic). Pure: no I/O.
 *
 * Safety rules, whatever the policy says:
 * - only complete Lifeboat sets are ever deleted; seed sets and incomplete sets (a backup still
 *   uploading, or one that failed) are "ignore";
 * - so are sets with an object in a folder below the store (keys are relative to its prefix; the
 *   agent writes every object at the top): another agent's backups under a longer prefix, or a
 *   copy kept by hand. The listing finds sets under any folder, but they are not this agent's;
 * - the newest complete Lifeboat set is always kept (its manifest exists only because its snapshot
 *   passed integrity_check, so it is the newest set known to be good);
 * - so is the complete Lifeboat set whose manifest the store received last, when that is another
 *   one: names carry the host's clock, so after a clock that ran ahead (a set "from the future")
 *   or behind, the newest data is not the newest name.
 *
 * Returns one decision per set, newest first.
 */
export function planRetention(sets: RetentionSet[], policy: RetentionPolicy): RetentionDecision[] {
  const newestFirst = [...sets].sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : -1));
  const managed = newestFirst.filter((s) => s.format === "lifeboat" && s.complete && !folderOf(s));
  const reasons = new Map<string, string[]>(managed.map((s) => [s.id, []]));

  if (managed.length) reasons.get(managed[0].id)!.push("newest complete set (always kept)");
  const lastUploaded = managed.reduce<RetentionSet | null>((a, s) => (s.uploadedAt && !(a?.uploadedAt && a.uploadedAt >= s.uploadedAt) ? s : a), null);
  if (lastUploaded && lastUploaded !== managed[0])
    reasons
      .get(lastUploaded.id)!
      .push(`complete set uploaded last (always kept: ${managed[0].id} is named later, by a host clock that was ahead or is behind)`);
  managed.slice(0, policy.keepLast).forEach((s, i) => reasons.get(s.id)!.push(`one of the last ${policy.keepLast} sets (#${i + 1})`));

  const buckets: [string, number, (t: Date) => string][] = [
    ["daily", policy.keepDaily, dayKey],
    ["weekly", policy.keepWeekly, isoWeekKey],
    ["monthly", policy.keepMonthly, monthKey],
  ];
  for (const [label, limit, key] of buckets) {
    const seen = new Set<string>();
    for (const s of managed) {
      if (seen.size >= limit) break;
      const k = key(s.time);
      if (seen.has(k)) continue; // an older set of a period already represented by a newer one
      seen.add(k);
      reasons.get(s.id)!.push(`newest of ${k} (${label} ${seen.size} of ${limit})`);
    }
  }

  return newestFirst.map((s): RetentionDecision => {
    const base = { setId: s.id, format: s.format, timestamp: s.time.toISOString(), keys: [...s.keys].sort() };
    if (s.format !== "lifeboat") return { ...base, action: "ignore", reasons: ["seed CronJob set: Lifeboat never deletes it"] };
    if (!s.complete) return { ...base, action: "ignore", reasons: ["incomplete set (no manifest): a backup in progress or one that failed; left alone"] };
    const folder = folderOf(s);
    if (folder)
      return {
        ...base,
        action: "ignore",
        reasons: [`in the folder ${folder} below the store, where the agent never writes (another agent's, or a copy made by hand): left alone`],
      };
    const why = reasons.get(s.id)!;
    if (why.length) return { ...base, action: "keep", reasons: why };
    return {
      ...base,
      action: "delete",
      reasons: [
        `not among the last ${policy.keepLast} sets, nor the newest of one of the last ${policy.keepDaily} days, ${policy.keepWeekly} weeks or ${policy.keepMonthly} months with backups`,
      ],
    };
  });
}
