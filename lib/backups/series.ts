import { KIND_LABELS, OBJECT_KINDS, type ObjectKind } from "../contracts/backup-names";
import type { Anomaly } from "../contracts/catalog";
import type { BackupSet } from "./grouping";

/** One marked point of the size chart. */
export interface ChartFlag {
  /** Index into `times`/`setIds`. */
  index: number;
  /** The series the point sits on; "set" (gap, stale) sits on the set's first series. */
  kind: ObjectKind | "set";
  level: Anomaly["level"];
  type: Anomaly["type"];
  reason: string;
}

/**
 * The size trend in columns (what uPlot draws): one x value per set, one size series per object
 * kind, `null` where a set has no object of that kind. Compact enough to ship 10,000 sets.
 */
export interface SizeChartData {
  /** Unix seconds, oldest first. */
  times: number[];
  setIds: string[];
  series: { kind: ObjectKind; label: string; sizes: (number | null)[] }[];
  flags: ChartFlag[];
}

/** Builds the chart's columns from sets (any order) and their anomalies. Manifests are left out. */
export function sizeChartData(sets: readonly BackupSet[], anomalies: ReadonlyMap<string, readonly Anomaly[]>): SizeChartData {
  const ordered = [...sets].sort((a, b) => a.time.getTime() - b.time.getTime() || (a.id < b.id ? -1 : 1));
  const present = new Set<ObjectKind>();
  for (const s of ordered) for (const o of s.objects) if (o.kind !== "manifest") present.add(o.kind);
  const kinds = OBJECT_KINDS.filter((k) => present.has(k));
  const columns = new Map(kinds.map((k) => [k, new Array<number | null>(ordered.length).fill(null)]));
  const flags: ChartFlag[] = [];
  ordered.forEach((s, i) => {
    for (const o of s.objects) {
      const col = columns.get(o.kind);
      if (col) col[i] = o.size;
    }
    for (const a of anomalies.get(s.id) ?? []) {
      if (a.kind === "manifest") continue;
      flags.push({ index: i, kind: a.kind, level: a.level, type: a.type, reason: a.reason });
    }
  });
  return {
    times: ordered.map((s) => Math.floor(s.time.getTime() / 1000)),
    setIds: ordered.map((s) => s.id),
    series: kinds.map((k) => ({ kind: k, label: KIND_LABELS[k], sizes: columns.get(k)! })),
    flags,
  };
}
