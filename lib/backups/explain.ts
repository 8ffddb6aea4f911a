import type { Explanation, ExplanationCause, SetStatistics } from "../contracts/set-statistics";
import { prefixDeltas, type PrefixDelta } from "./statistics";
import { bytes, count, day, namespaceOf, objectCount, percent, prefixNoun, signedBytes, signedCount } from "./explain-words";

/**
 * Why a flagged backup set is the size it is (pure: plain inputs, no I/O). The set's database
 * statistics are compared with those of the newest unflagged set of the same series (its
 * baseline): which key prefixes grew, whether kine's compaction stalled (and since when), dead
 * rows, free pages, and the live database when the agent reported it. The causes are ranked and
 * each says what to do; the verdict's first line is the summary (explanationFirstLine).
 */

/** Why a set has no statistics (read only when `statistics` is null). */
export type MissingStatistics =
  | { why: "not-drilled"; agentConfigured: boolean }
  | { why: "drill-pending" }
  | { why: "drill-failed"; reason: string }
  | { why: "no-manifest" }
  | { why: "manifest-unreadable"; message: string };

export interface ExplainedSet {
  id: string;
  /** ISO time of the set. */
  time: string;
  /** Any anomaly flag (growth, shrink, gap, stale). Unflagged sets are baselines. */
  flagged: boolean;
  statistics: SetStatistics | null;
  missing?: MissingStatistics;
}

/** What the agent read from the live database just now (GET /stats). */
export interface LiveDatabase {
  takenAt: string;
  currentRevision: number;
  compactRevision: number;
  compactionLag: number;
}

/** Where a series' revisions stood when a set was taken: enough to tell when compaction last advanced. */
export type RevisionPoint = Pick<SetStatistics, "takenAt" | "currentRevision" | "compactRevision">;

export interface ExplainInput {
  /** The flagged set to explain. */
  set: ExplainedSet;
  /**
   * Every set of the same series (format), any order; `set` may be among them. Only the set's and
   * its baseline's statistics are read: the others' may be left null when `revisions` is given.
   */
  series: readonly ExplainedSet[];
  /** The revisions of every set of the series with statistics (default: from `series`). */
  revisions?: readonly RevisionPoint[];
  /** The baseline when the caller found it already (default: baselineOf(set, series)). */
  baseline?: ExplainedSet | null;
  /** The live database, when the agent reported it (worth passing for the newest set only). */
  live?: LiveDatabase | null;
}

/** A compaction lag above this is a stalled compaction: a healthy kine keeps ~1,000 revisions plus five minutes of writes. */
export const STALLED_LAG = 10_000;
/** A prefix that at least doubled, by this many rows or more, grew out of the ordinary. */
const RUNAWAY_ROWS = 1_000;
/** Changes smaller than this share of the baseline's rows or bytes are noise. */
const NOTABLE = 0.05;
/** Prefixes named as growing at most. */
const TOP_PREFIXES = 3;

const FIX_STALLED =
  'What to do: look in k3s\'s log for why it stopped (`journalctl -u k3s | grep -iE \'compact|database is locked\'`: "Compact failed", "transaction has already been committed", "database is locked"); restart k3s (`systemctl restart k3s`), which compacts again at start; check the database file\'s owner and mode (`ls -ln /var/lib/rancher/k3s/server/db/`: root (0:0) and 0600 — the incident\'s file was pi:pi) and the free space where it lives (`df -h /var/lib/rancher/k3s/server`). The next backup shows whether the lag fell.';

const t = (iso: string) => new Date(iso);

/** The newest unflagged set older than `set` in `series`, or null. */
export function baselineOf(set: Pick<ExplainedSet, "id" | "time">, series: readonly ExplainedSet[]): ExplainedSet | null {
  const at = Date.parse(set.time);
  let best: ExplainedSet | null = null;
  let bestAt = -Infinity;
  for (const s of series) {
    if (s.id === set.id || s.flagged) continue;
    const when = Date.parse(s.time);
    if (when < at && when > bestAt) [best, bestAt] = [s, when];
  }
  return best;
}

/** Why a set has no statistics and how to get them, as a sentence about `subject` ("This set", "The set it is compared with, …"). */
function missingText(subject: string, m: MissingStatistics | undefined): string {
  switch (m?.why) {
    case "drill-pending":
      return `${subject} has no database statistics yet: its restore drill is queued or running, and they appear when it finishes.`;
    case "drill-failed":
      return `${subject} has no database statistics: its restore drill failed (${m.reason.replace(/\.$/, "")}). Its page says why; Verify now runs the drill again.`;
    case "no-manifest":
      return `${subject} has no manifest (its upload did not finish), so there are no database statistics for it: do not rely on it.`;
    case "manifest-unreadable":
      return `${subject} has no database statistics: its manifest could not be read (${m.message.replace(/\.$/, "")}).`;
    case "not-drilled":
    default:
      return m?.why === "not-drilled" && !m.agentConfigured
        ? `${subject} has no database statistics: seed sets get them from a restore drill, and no agent is configured to run one. Set LIFEBOAT_AGENT_URL and LIFEBOAT_AGENT_TOKEN, then Verify now.`
        : `${subject} has no database statistics yet: seed sets get them from a restore drill, which opens the backup on the agent. Run a drill (Verify now) to read its revisions, rows, key prefixes and compaction.`;
  }
}

/** Why a set has no statistics, in a few words, for the verdict's first line. */
function missingShort(m: MissingStatistics | undefined): string {
  switch (m?.why) {
    case "drill-pending":
      return "this set's restore drill is queued or running; its statistics come when it finishes.";
    case "drill-failed":
      return "this set's restore drill failed, so its database could not be read.";
    case "no-manifest":
      return "this set has no manifest (its upload did not finish).";
    case "manifest-unreadable":
      return "this set's manifest could not be read.";
    default:
      return m?.why === "not-drilled" && !m.agentConfigured
        ? "this set has no database statistics; restore drills, which read them, need an agent."
        : "this set has no database statistics yet; a restore drill reads them (Verify now).";
  }
}

/**
 * About when kine's compaction last advanced to `s.compactRevision`. Best from the series: it moved
 * between the last set that had another compact revision and the first that had this one. Else the
 * database may tell when that revision was written (compaction came after). `text` is short (the
 * verdict), `detail` says how it is known (the cause). Null when nothing tells.
 */
export function compactionAdvancedAround(s: SetStatistics, series: readonly RevisionPoint[]): { text: string; detail: string } | null {
  const rev = s.compactRevision;
  const at = (p: RevisionPoint) => t(p.takenAt).getTime();
  const points = series.filter((p) => at(p) <= at(s)).sort((a, b) => at(a) - at(b));
  // Walk back from the set over the sets that had the same compact revision.
  let first: RevisionPoint | null = null;
  let before: RevisionPoint | null = null;
  for (let i = points.length - 1; i >= 0; i--) {
    if (points[i].compactRevision === rev) first = points[i];
    else {
      // A higher compact revision before this one: a restore went back in time; older sets are another history.
      if (points[i].compactRevision < rev) before = points[i];
      break;
    }
  }
  const written = s.compactRevisionWrittenAt ? t(s.compactRevisionWrittenAt) : null;
  if (first && before) {
    const span = at(first) - at(before);
    const text = span <= 36 * 3_600_000 ? `about ${day(t(first.takenAt))}` : `between ${day(t(before.takenAt))} and ${day(t(first.takenAt))}`;
    return { text, detail: `${text} (after the set of ${day(t(before.takenAt), true)}, before the set of ${day(t(first.takenAt), true)})` };
  }
  if (written)
    return {
      text: `after ${day(written, true)}`,
      detail: `after ${day(written, true)}, when that revision was written${first ? ` (the oldest set with statistics, of ${day(t(first.takenAt), true)}, already had it)` : ""}`,
    };
  if (first) {
    const text = `before ${day(t(first.takenAt))}`;
    return { text, detail: `${text} (the oldest set with statistics already had it)` };
  }
  return null;
}

function liveText(live: LiveDatabase, s: SetStatistics): { text: string; stalled: boolean } {
  const when = day(t(live.takenAt), true);
  if (live.compactRevision > s.compactRevision && live.compactionLag < STALLED_LAG)
    return {
      text: `Since this backup compaction has advanced: the live database (read by the agent at ${when}) is compacted up to revision ${count(live.compactRevision)}, with ${count(live.compactionLag)} revisions kept, so the next backup should be smaller.`,
      stalled: false,
    };
  return {
    text: `The live database (read by the agent at ${when}) is at revision ${count(live.currentRevision)} with ${count(live.compactionLag)} revisions kept since revision ${count(live.compactRevision)}: compaction is still stalled.`,
    stalled: live.compactionLag >= STALLED_LAG,
  };
}

function stalledCause(s: SetStatistics, b: SetStatistics | null, seriesStats: readonly RevisionPoint[], live: LiveDatabase | null): ExplanationCause {
  const since = compactionAdvancedAround(s, seriesStats);
  const head =
    s.compactRevision === 0
      ? `kine's compaction has never run on this database: all ${count(s.compactionLag)} revisions are kept`
      : `kine's compaction last advanced at revision ${count(s.compactRevision)}${since ? `, ${since.detail}` : ""}; ${count(s.compactionLag)} revisions have been kept since`;
  const dead = `${percent(s.deadRows, s.rowCount)} of its ${count(s.rowCount)} rows are old versions and tombstones compaction would delete`;
  const parts = [`${head} (a healthy kine keeps about 1,000 plus five minutes of writes), and ${dead}.`];
  if (live) parts.push(liveText(live, s).text);
  parts.push(FIX_STALLED);
  return {
    kind: "compaction-stalled",
    rowsDelta: b ? s.deadRows - b.deadRows : s.deadRows,
    ...(b ? { bytesDelta: s.fileSize - b.fileSize } : {}),
    text: parts.join(" "),
  };
}

/** Where inside a prefix most rows are (`/registry/leases/kube-system: 80,100 rows`), when one sub-prefix holds most of them. */
function mostlyUnder(prefix: string, s: SetStatistics): { sub: string; rows: number } | null {
  const subs = s.subPrefixes.filter((p) => p.prefix.startsWith(prefix + "/")).sort((a, b) => b.rows - a.rows);
  const total = s.prefixes.find((p) => p.prefix === prefix)?.rows ?? 0;
  return subs[0] && subs[0].rows * 2 >= total ? { sub: subs[0].prefix, rows: subs[0].rows } : null;
}

function growthLine(d: PrefixDelta): string {
  return `${d.prefix} ${signedCount(d.rowsDelta)} rows, ${signedBytes(d.bytesDelta)}`;
}

/** A prefix grew out of the ordinary while compaction keeps up: events or leases written in a loop. */
function runawayCause(d: PrefixDelta, s: SetStatistics): ExplanationCause {
  const under = mostlyUnder(d.prefix, s);
  const noun = prefixNoun(d.prefix);
  const ns = under ? namespaceOf(under.sub) : null;
  const live = d.liveKeysDelta !== null && d.liveKeysDelta > 0 ? `, ${objectCount(d.liveKeysDelta, noun)}` : "";
  const where = under ? `; most of them under ${under.sub} (${count(under.rows)} rows)` : "";
  const look =
    noun === "events"
      ? `something is recording events in a loop. Look at them: \`kubectl get events ${ns ? `-n ${ns}` : "-A"} --sort-by=.lastTimestamp | tail -20\`, and fix or scale down what emits them`
      : noun === "leases"
        ? `leases are created or renewed far more often than before. Look at them: \`kubectl get leases ${ns ? `-n ${ns}` : "-A"}\` — a controller restarting in a loop, or many new nodes`
        : `far more ${noun} are written than before. Look at what creates or changes them: \`kubectl get ${noun} ${ns ? `-n ${ns}` : "-A"}\``;
  return {
    kind: "prefix-growth",
    prefix: d.prefix,
    rowsDelta: d.rowsDelta,
    bytesDelta: d.bytesDelta,
    text: `${growthLine(d)}${live}${where}: ${look}.`,
  };
}

/** A prefix that grew while compaction stalled: mostly versions compaction would have removed. */
function symptomCause(d: PrefixDelta, s: SetStatistics): ExplanationCause {
  const under = mostlyUnder(d.prefix, s);
  const live =
    d.liveKeysDelta === null
      ? ""
      : d.liveKeysDelta === 0
        ? ", with no new live keys"
        : `, only ${signedCount(d.liveKeysDelta)} live ${d.liveKeysDelta === 1 || d.liveKeysDelta === -1 ? "key" : "keys"}`;
  return {
    kind: "prefix-growth",
    prefix: d.prefix,
    rowsDelta: d.rowsDelta,
    bytesDelta: d.bytesDelta,
    text: `${growthLine(d)}${under ? ` (most under ${under.sub}: ${count(under.rows)} rows)` : ""}${live}: old versions and tombstones that compaction would have removed. They go once compaction runs again.`,
  };
}

function freelistCause(s: SetStatistics, b: SetStatistics | null): ExplanationCause {
  const free = s.freelistCount * s.pageSize;
  const delta = b ? free - b.freelistCount * b.pageSize : free;
  return {
    kind: "freelist",
    ...(b ? { bytesDelta: delta } : {}),
    text: `${bytes(free)} of the ${bytes(s.fileSize)} database file are free pages${b ? ` (${signedBytes(delta)})` : ""}: compaction freed them, but SQLite never shrinks the file and a copy of it (the CronJob's file archive) carries their old bytes. New writes reuse them. To shrink the file, back up, stop k3s and run \`sqlite3 /var/lib/rancher/k3s/server/db/state.db VACUUM\` (recent kine versions vacuum at start).`,
  };
}

function deadRowsCause(s: SetStatistics, b: SetStatistics): ExplanationCause {
  return {
    kind: "dead-rows",
    rowsDelta: s.deadRows - b.deadRows,
    text: `${count(s.deadRows)} rows (${percent(s.deadRows, s.rowCount)}) are old versions and tombstones compaction would delete, ${signedCount(s.deadRows - b.deadRows)} since the baseline, although compaction advances (${count(s.compactionLag)} revisions kept): more writes between compactions than before (${signedCount(s.currentRevision - b.currentRevision)} revisions since the baseline). Nothing to do if the write rate is expected; otherwise the prefixes that grew say what writes.`,
  };
}

/** Live objects per prefix that appeared or went since the baseline: `40 new pods, 12 new configmaps`. */
function objectChanges(deltas: readonly PrefixDelta[]): string[] {
  return deltas
    .filter((d) => d.liveKeysDelta !== null && d.liveKeysDelta !== 0 && d.prefix !== "compact_rev_key")
    .sort((a, b) => Math.abs(b.liveKeysDelta!) - Math.abs(a.liveKeysDelta!) || a.prefix.localeCompare(b.prefix))
    .slice(0, 4)
    .map((d) => objectCount(d.liveKeysDelta!, prefixNoun(d.prefix)));
}

/** Sets this far apart span several of kine's five-minute compactions: one of them should have moved the compact revision. */
const COMPACTIONS_APART_MS = 15 * 60_000;

/**
 * Whether kine's compaction is stalled in `s`: it keeps far more revisions than a healthy kine, or
 * it did not move since the baseline although more than its 1,000 kept revisions were written since.
 */
export function isStalled(s: SetStatistics, b: SetStatistics | null): boolean {
  if (s.compactionLag >= STALLED_LAG && (!b || b.compactionLag >= STALLED_LAG || s.compactionLag >= 3 * b.compactionLag)) return true;
  return (
    b !== null &&
    s.compactRevision <= b.compactRevision &&
    s.currentRevision - b.currentRevision >= 1_000 &&
    s.compactionLag >= 2_000 &&
    t(s.takenAt).getTime() - t(b.takenAt).getTime() >= COMPACTIONS_APART_MS
  );
}

/** Whether a set's flags are about its size (growth, shrink): the ones an explanation is for. Gap and stale flags are about timing. */
export function explainable(anomalies: readonly { type: string }[]): boolean {
  return anomalies.some((a) => a.type === "growth" || a.type === "shrink");
}

/** Explains a flagged set (see the module comment). Never throws. */
export function explainSet(input: ExplainInput): Explanation {
  const { set } = input;
  const baseline = input.baseline !== undefined ? input.baseline : baselineOf(set, input.series);
  const baselineSetId = baseline?.id ?? null;
  const s = set.statistics;
  const b = baseline?.statistics ?? null;
  const live = input.live ?? null;
  const seriesStats: RevisionPoint[] = [...(input.revisions ?? input.series.map((x) => x.statistics)), s].filter((x): x is RevisionPoint => x !== null);

  if (!s) {
    const text = missingText("This set", set.missing);
    return { baselineSetId, verdict: `Cannot tell why yet: ${missingShort(set.missing)}`, causes: [{ kind: "unknown", text }] };
  }

  const causes: ExplanationCause[] = [];
  const stalled = isStalled(s, b);
  if (stalled) causes.push(stalledCause(s, b, seriesStats, live));
  else if (live && live.compactionLag >= STALLED_LAG) {
    causes.push({
      kind: "compaction-stalled",
      text: `${liveText(live, s).text.replace(/: compaction is still stalled\.$/, ": compaction has stalled since this backup.")} ${FIX_STALLED}`,
    });
  }

  if (!b) {
    const free = s.freelistCount * s.pageSize;
    if (free >= 0.25 * s.fileSize && free >= 1_000_000) causes.push(freelistCause(s, null));
    const text = baseline
      ? `${missingText(`The set it is compared with, ${baseline.id} (${day(t(baseline.time))}),`, baseline.missing)} Until then, which key prefixes grew cannot be told.`
      : "There is no older unflagged set of this series to compare with, so only what this set shows by itself is known.";
    causes.push({ kind: "unknown", text });
    const verdict = stalled
      ? stalledVerdict(s, seriesStats, null)
      : `Cannot tell why yet: ${baseline ? `the set it is compared with (${baseline.id}) has no database statistics` : "there is no earlier unflagged set to compare with"}.`;
    return { baselineSetId, verdict, causes };
  }

  const deltas = prefixDeltas(b, s);
  const totalBytes = deltas.reduce((n, d) => n + Math.max(0, d.bytesDelta), 0);
  const growing = deltas.filter((d) => d.bytesDelta > 0 && d.rowsDelta > 0 && d.bytesDelta >= 0.1 * totalBytes).slice(0, TOP_PREFIXES);
  const runaway: PrefixDelta[] = [];
  if (stalled) for (const d of growing) causes.push(symptomCause(d, s));
  else {
    for (const d of growing) {
      const before = d.rows - d.rowsDelta;
      // Doubled (or more) by a good number of rows while compaction keeps up, and not because of new objects.
      const objects = d.liveKeysDelta !== null && d.liveKeysDelta >= 0.5 * d.rowsDelta && !/events|leases/.test(d.prefix);
      if (d.rowsDelta >= RUNAWAY_ROWS && d.rowsDelta >= before && !objects) runaway.push(d);
    }
    for (const d of runaway) causes.push(runawayCause(d, s));
  }

  const free = s.freelistCount * s.pageSize;
  const freeDelta = free - b.freelistCount * b.pageSize;
  const fileDelta = s.fileSize - b.fileSize;
  if (freeDelta >= 1_000_000 && freeDelta >= 0.25 * Math.max(fileDelta, 0) && free >= 0.2 * s.fileSize) causes.push(freelistCause(s, b));
  const deadDelta = s.deadRows - b.deadRows;
  if (!stalled && deadDelta >= Math.max(1_000, 0.25 * b.rowCount) && s.deadRows >= 0.5 * s.rowCount) causes.push(deadRowsCause(s, b));

  const rowsDelta = s.rowCount - b.rowCount;
  const changes = objectChanges(deltas);
  const notable = Math.abs(rowsDelta) >= NOTABLE * Math.max(1, b.rowCount) || Math.abs(fileDelta) >= NOTABLE * Math.max(1, b.fileSize);
  if (!causes.length) {
    if (changes.length && s.liveKeys > b.liveKeys) {
      causes.push({
        kind: "normal-growth",
        rowsDelta,
        bytesDelta: fileDelta,
        text: `This looks like normal growth: ${changes.join(", ")} (live keys ${count(b.liveKeys)} → ${count(s.liveKeys)}), and compaction keeps up (${count(s.compactionLag)} revisions kept). Nothing to do unless these objects are unexpected.`,
      });
    } else if (!notable) {
      causes.push({
        kind: "normal-growth",
        rowsDelta,
        bytesDelta: fileDelta,
        text: `The database barely changed since the baseline: ${signedCount(rowsDelta)} rows, ${signedCount(s.liveKeys - b.liveKeys)} live keys, file ${signedBytes(fileDelta)}, compaction keeping up (${count(s.compactionLag)} revisions kept).`,
      });
    }
  }
  if (!causes.length)
    causes.push({
      kind: "unknown",
      rowsDelta,
      bytesDelta: fileDelta,
      text: `The database statistics do not explain it: ${signedCount(rowsDelta)} rows (${percent(Math.abs(rowsDelta), b.rowCount)}), file ${signedBytes(fileDelta)}, compaction keeping up, no prefix out of the ordinary. Compare the set's objects on this page with the baseline's: a backup that also holds a large WAL, or a different compression, looks like this.`,
    });

  return { baselineSetId, verdict: verdictOf(causes, s, b, seriesStats, growing, runaway, changes), causes };
}

function stalledVerdict(s: SetStatistics, seriesStats: readonly RevisionPoint[], top: PrefixDelta | null): string {
  const since = compactionAdvancedAround(s, seriesStats);
  const first =
    s.compactRevision === 0
      ? `Compaction stalled: kine has never compacted this database, so all ${count(s.compactionLag)} revisions are kept`
      : `Compaction stalled: kine's compaction has not advanced since revision ${count(s.compactRevision)}${since ? ` (${since.text})` : ""}, so ${count(s.compactionLag)} revisions are kept`;
  return `${first}${top ? `; ${growthLine(top)}` : ""}.`;
}

function verdictOf(
  causes: readonly ExplanationCause[],
  s: SetStatistics,
  b: SetStatistics,
  seriesStats: readonly RevisionPoint[],
  growing: readonly PrefixDelta[],
  runaway: readonly PrefixDelta[],
  changes: readonly string[],
): string {
  const first = causes[0];
  let line: string;
  switch (first.kind) {
    case "compaction-stalled":
      line =
        first.rowsDelta === undefined && s.compactionLag < STALLED_LAG
          ? `Compaction has stalled since this backup (the live database says so).`
          : stalledVerdict(s, seriesStats, growing[0] ?? null);
      break;
    case "prefix-growth":
      line = `Runaway ${prefixNoun(runaway[0].prefix)}: ${growthLine(runaway[0])} while compaction keeps up.`;
      break;
    case "freelist":
      line = `Free pages: ${bytes(s.freelistCount * s.pageSize)} of the database file is free space SQLite keeps after compaction.`;
      break;
    case "dead-rows":
      line = `Dead rows: ${count(s.deadRows)} rows (${percent(s.deadRows, s.rowCount)}) are versions compaction has not removed yet.`;
      break;
    case "normal-growth":
      line =
        changes.length && s.liveKeys > b.liveKeys
          ? `This looks like normal growth: ${changes.join(", ")}.`
          : "Nothing unusual in the database: it barely changed since the baseline.";
      break;
    default:
      line = "Why it grew is unknown: the database statistics do not explain it.";
  }
  // The other causes, in rank order, unless the summary already names them.
  const others = causes
    .slice(1)
    .map(causeLabel)
    .filter((label) => !line.includes(label));
  const more = others.length ? ` Also: ${others.join("; ")}.` : "";
  return line + more;
}

function causeLabel(c: ExplanationCause): string {
  switch (c.kind) {
    case "prefix-growth":
      return `${c.prefix} ${signedCount(c.rowsDelta ?? 0)} rows, ${signedBytes(c.bytesDelta ?? 0)}`;
    case "freelist":
      return "free pages in the file";
    case "dead-rows":
      return "dead rows";
    case "compaction-stalled":
      return "compaction stalled";
    case "normal-growth":
      return "normal growth";
    default:
      return "missing statistics";
  }
}

/** The first line of an explanation's verdict: the one-line summary (history rows, the Recent flags card, alert summaries). */
export function explanationFirstLine(e: Pick<Explanation, "verdict">): string {
  const verdict = e.verdict.split("\n")[0];
  // The summary before "Also: …" (the other causes are on the set's page).
  return verdict.replace(/ Also: .*$/, "");
}
