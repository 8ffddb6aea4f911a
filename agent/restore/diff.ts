import { openReadOnly } from "../sqlite/check";
import type { DatabaseDiff, DatabaseSide, KeyTypeDiff, RevisionSet } from "../../lib/contracts/agent-restore";

/**
 * What replacing one kine database with another changes, by object (key) and revision. Used for the
 * restore preview ("restoring loses 3 deployments and 12 configmaps created or changed after …")
 * and to compare a recovered database with the newest good backup.
 */

/** Resource type of a kine key: `/registry/deployments/ns/x` → "deployments"; CRDs → "<resource>.<group>". */
export function keyType(name: string): string | null {
  if (name === "compact_rev_key" || name.startsWith("gap-")) return null;
  if (name.startsWith("/bootstrap/")) return "bootstrap";
  const parts = name.split("/");
  if (parts[1] !== "registry" || !parts[2]) return "other";
  if (parts[2] === "services" && (parts[3] === "specs" || parts[3] === "endpoints")) return parts[3] === "specs" ? "services" : "endpoints";
  if (parts[2].includes(".") && parts[3]) return `${parts[3]}.${parts[2]}`;
  return parts[2];
}

/** The key without its `/registry/<type>/` prefix, for examples. */
function shortKey(name: string, type: string): string {
  const parts = name.split("/");
  if (parts[1] !== "registry") return name;
  const skip = type.includes(".") || (parts[2] === "services" && (parts[3] === "specs" || parts[3] === "endpoints")) ? 4 : 3;
  return parts.slice(skip).join("/") || name;
}

/** Types k3s rewrites all the time: counted, but not as "objects lost". */
export const CHURN = new Set(["leases", "events"]);

interface Snapshot {
  side: DatabaseSide;
  /** Newest row per key: id and whether it is a deletion. */
  latest: Map<string, { id: number; deleted: boolean }>;
  ids: Int32Array | Float64Array;
}

function load(file: string, label: string, takenAt: string | null): Snapshot {
  const db = openReadOnly(file);
  try {
    const latest = new Map<string, { id: number; deleted: boolean }>();
    const rows = db
      .prepare(`SELECT k.name AS name, k.id AS id, k.deleted AS deleted FROM kine AS k JOIN (SELECT MAX(id) AS id FROM kine GROUP BY name) AS l ON k.id = l.id`)
      .raw()
      .iterate() as IterableIterator<[string, number, number]>;
    for (const [name, id, deleted] of rows) latest.set(name, { id, deleted: deleted !== 0 });
    const idList = db.prepare("SELECT id FROM kine ORDER BY id").pluck().all() as number[];
    const max = idList.length ? idList[idList.length - 1] : 0;
    const ids = max < 2 ** 31 ? Int32Array.from(idList) : Float64Array.from(idList);
    const compact = (db.prepare("SELECT IFNULL(MAX(prev_revision), 0) FROM kine WHERE name = 'compact_rev_key'").pluck().get() as number) ?? 0;
    let objects = 0;
    for (const [name, l] of latest) if (!l.deleted && keyType(name) !== null) objects++;
    return { side: { label, currentRevision: max, compactRevision: compact, rows: idList.length, objects, takenAt }, latest, ids };
  } finally {
    db.close();
  }
}

/** Revisions in sorted `a` that are not in sorted `b`, as a count and the first 20 ranges. */
function revisionsOnlyIn(a: ArrayLike<number>, b: ArrayLike<number>): RevisionSet {
  const ranges: { from: number; to: number }[] = [];
  let count = 0;
  let j = 0;
  let open: { from: number; to: number } | null = null;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    while (j < b.length && b[j] < x) j++;
    if (j < b.length && b[j] === x) continue;
    count++;
    if (open && x === open.to + 1) open.to = x;
    else if (ranges.length < 20) ranges.push((open = { from: x, to: x }));
    else open = null;
  }
  return { count, ranges };
}

const plural = (n: number, type: string) => `${n} ${n === 1 ? type.replace(/ies$/, "y").replace(/(?<!s)s$/, "") : type}`;

/**
 * Compares `currentFile` (what is there now) with `candidateFile` (what would replace it). Throws
 * when either cannot be read as a kine database.
 */
export function diffKineDatabases(
  currentFile: string,
  candidateFile: string,
  opts: { currentLabel: string; candidateLabel: string; candidateTakenAt: Date | null; subject: string },
): DatabaseDiff {
  const cur = load(currentFile, opts.currentLabel, null);
  const cand = load(candidateFile, opts.candidateLabel, opts.candidateTakenAt?.toISOString() ?? null);
  const byType = new Map<string, KeyTypeDiff & { order: number[] }>();
  const entry = (type: string) => {
    let e = byType.get(type);
    if (!e) byType.set(type, (e = { type, onlyInCurrent: 0, onlyInCandidate: 0, changed: 0, examples: [], order: [] }));
    return e;
  };
  const example = (e: KeyTypeDiff & { order: number[] }, name: string, rev: number) => {
    e.examples.push(shortKey(name, e.type));
    e.order.push(rev);
  };
  let lost = 0;
  let churn = 0;
  for (const [name, c] of cur.latest) {
    const type = keyType(name);
    if (!type) continue;
    const k = cand.latest.get(name);
    const liveHere = !c.deleted;
    const liveThere = Boolean(k && !k.deleted);
    if (liveHere && !liveThere) {
      const e = entry(type);
      e.onlyInCurrent++;
      example(e, name, c.id);
      if (CHURN.has(type)) churn++;
      else lost++;
    } else if (!liveHere && liveThere) {
      const e = entry(type);
      e.onlyInCandidate++;
      example(e, name, k!.id);
    } else if (liveHere && liveThere && k!.id !== c.id) {
      const e = entry(type);
      e.changed++;
      example(e, name, Math.max(c.id, k!.id));
      if (CHURN.has(type)) churn++;
      else if (c.id > k!.id) lost++;
    }
  }
  for (const [name, k] of cand.latest) {
    const type = keyType(name);
    if (!type || k.deleted || cur.latest.has(name)) continue;
    const e = entry(type);
    e.onlyInCandidate++;
    example(e, name, k.id);
  }
  const types = [...byType.values()]
    .map(({ order, ...e }) => {
      const idx = e.examples.map((_, i) => i).sort((a, b) => order[b] - order[a]);
      return { ...e, examples: idx.slice(0, 20).map((i) => e.examples[i]) };
    })
    .sort(
      (a, b) =>
        Number(CHURN.has(a.type)) - Number(CHURN.has(b.type)) ||
        b.onlyInCurrent + b.changed + b.onlyInCandidate - (a.onlyInCurrent + a.changed + a.onlyInCandidate) ||
        a.type.localeCompare(b.type),
    );

  const when = opts.candidateTakenAt ? `${opts.candidateTakenAt.toISOString().slice(0, 16).replace("T", " ")} UTC` : `revision ${cand.side.currentRevision}`;
  const lostParts = types
    .filter((t) => !CHURN.has(t.type))
    .map((t) => ({ t, n: t.onlyInCurrent + t.changed }))
    .filter((x) => x.n > 0);
  const backParts = types.filter((t) => !CHURN.has(t.type) && t.onlyInCandidate > 0);
  let summary =
    lost === 0
      ? `${opts.subject} loses no objects.`
      : `${opts.subject} loses ${plural(lost, "objects")} created or changed after ${when}: ${lostParts.map((x) => plural(x.n, x.t.type)).join(", ")}.`;
  if (backParts.length) summary += ` It brings back ${backParts.map((t) => plural(t.onlyInCandidate, t.type)).join(", ")} deleted since.`;
  if (churn) summary += ` (${churn} lease and event updates are not counted: k3s rewrites them constantly.)`;
  return {
    current: cur.side,
    candidate: cand.side,
    revisionsOnlyInCurrent: revisionsOnlyIn(cur.ids, cand.ids),
    revisionsOnlyInCandidate: revisionsOnlyIn(cand.ids, cur.ids),
    byType: types,
    objectsLost: lost,
    summary,
  };
}
