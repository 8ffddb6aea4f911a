import { receivedBefore } from "../backups/grouping";
import type { CatalogSet } from "../contracts/catalog";
import type { Proposal, SetStats } from "./contracts";

/**
 * Which backup the restore wizard proposes, and why — a pure function of the catalog (sets with
 * their size flags and drill results) and what is known of each set's database (manifest or drill
 * statistics).
 *
 * The rule, in the order a person would reason during the incident:
 *  1. A size anomaly (growth or shrink) among the newest sets marks an episode: the database (or
 *     its backups) went wrong when it began, so every set from its first flagged set on is passed over.
 *  2. Of the sets before it, the newest one that a restore drill verified is proposed.
 *  3. When none of them is verified yet, the newest one whose drill did not fail is proposed, saying
 *     that the wizard verifies it (step 4) before anything on the server changes.
 *  A set taken while kine's compaction was stuck still restores; the proposal says so.
 */

/** Compaction lag above which compaction is considered stuck (the agent's health check uses the same figure). */
export const STUCK_COMPACTION_LAG = 10_000;
/** An anomaly this many sets back or older is history, not an episode in progress. */
export const RECENT_SETS = 7;
const MAX_SKIPPED = 10;

const when = (iso: string) => new Date(iso).toISOString().slice(0, 16).replace("T", " ") + " UTC";
const fmt = (n: number) => n.toLocaleString("en-US");

/**
 * When a set was taken at the latest: its name's time, or when the store received its newest object
 * when that is earlier — a set named by a host clock that ran ahead (2030, uploaded tonight) holds
 * tonight's database, not one newer than every later backup.
 */
function takenBy(s: CatalogSet): string {
  const named = Date.parse(s.timestamp);
  const earlier = receivedBefore(named, s.objects);
  return earlier === named ? s.timestamp : new Date(earlier).toISOString();
}

const sizeFlagged = (s: CatalogSet) => s.anomalies.some((a) => a.type === "growth" || a.type === "shrink");

/** A warning about a set taken while compaction was stuck, or null. */
export function stuckCompactionNote(stats: SetStats | null | undefined): string | null {
  if (!stats || stats.compactionLag <= STUCK_COMPACTION_LAG) return null;
  return `This backup was taken while kine's compaction was stuck (compaction lag ${fmt(stats.compactionLag)} revisions): it still restores, but the database is large and keeps growing until compaction catches up after k3s starts.`;
}

/**
 * The set of the current anomaly episode that began it: among the newest RECENT_SETS sets, the
 * newest size-flagged one, then back through the sets just before it while they are flagged too.
 * Null when the newest sets carry no size flag.
 */
export function anomalyOnset(setsNewestFirst: readonly CatalogSet[]): CatalogSet | null {
  const first = setsNewestFirst.slice(0, RECENT_SETS).findIndex(sizeFlagged);
  if (first < 0) return null;
  let i = first;
  while (i + 1 < setsNewestFirst.length && sizeFlagged(setsNewestFirst[i + 1])) i++;
  return setsNewestFirst[i];
}

/**
 * Proposes a backup to restore. `sets` in any order; `stats(id)` what is known of a set's database.
 * Returns `{ proposal }`, or `{ none }` with the reason when there is nothing to propose.
 */
export function proposeBackup(
  sets: readonly CatalogSet[],
  stats: (setId: string) => SetStats | null = () => null,
): { proposal: Proposal; none?: undefined } | { proposal?: undefined; none: string } {
  const ordered = [...sets].sort((a, b) => takenBy(b).localeCompare(takenBy(a)) || b.id.localeCompare(a.id));
  if (!ordered.length) return { none: "There are no backup sets in the store." };
  const onset = anomalyOnset(ordered);
  const skipped: Proposal["skipped"] = [];
  const skip = (setId: string, why: string) => {
    if (skipped.length < MAX_SKIPPED) skipped.push({ setId, why });
  };

  let candidates = ordered;
  if (onset) {
    const cut = ordered.indexOf(onset);
    for (const s of ordered.slice(0, cut + 1)) {
      const flags = s.anomalies.filter((a) => a.type === "growth" || a.type === "shrink");
      skip(
        s.id,
        flags.length ? `size flag: ${flags.map((a) => `${a.type} (${a.level})`).join(", ")}` : `taken after the size anomaly began on ${when(onset.timestamp)}`,
      );
    }
    candidates = ordered.slice(cut + 1);
  }
  const usable = candidates.filter((s) => {
    if (s.verification?.state === "failed") {
      skip(s.id, `its restore drill failed: ${s.verification.reason ?? "see its page"}`);
      return false;
    }
    if (s.format === "lifeboat" && s.missing.includes("manifest")) {
      skip(s.id, "incomplete: the agent never finished uploading it (no manifest)");
      return false;
    }
    return true;
  });
  const before = onset ? ` before the size anomaly began on ${when(onset.timestamp)}` : "";
  if (!usable.length)
    return {
      none: onset
        ? `Every backup older than the size anomaly (which began on ${when(onset.timestamp)}) failed its restore drill or is incomplete. Look at the flagged sets yourself, or try a recovery of the live database.`
        : "Every backup failed its restore drill or is incomplete. Try a recovery of the live database.",
    };

  const verified = usable.find((s) => s.verification?.state === "verified");
  const chosen = verified ?? usable[0];
  for (const s of usable) {
    if (s === chosen) break;
    skip(s.id, s.verification?.state === "running" ? "its restore drill is running" : "not verified by a restore drill yet");
  }
  const warnings: string[] = [];
  if (!verified)
    warnings.push(
      "No backup in question has passed a restore drill yet: this one is the newest whose drill did not fail. Step 4 verifies it on the target before anything there changes.",
    );
  if (chosen.format === "seed" && chosen.missing.length)
    warnings.push(`This set is incomplete (it lacks its ${chosen.missing.join(", ")}); the agent restores from the part it has.`);
  if (chosen.format === "seed")
    warnings.push("Sets made by the seed CronJob hold no token: the restore uses the token already on the target, and verifies that it opens this datastore.");
  const stuck = stuckCompactionNote(stats(chosen.id));
  if (stuck) warnings.push(stuck);
  const what = verified ? "newest verified backup" : "newest backup";
  const reason = `${what[0].toUpperCase()}${what.slice(1)}${before}: ${when(chosen.timestamp)}.`;
  return { proposal: { setId: chosen.id, reason, anomalyBegan: onset?.timestamp ?? null, warnings, skipped } };
}
