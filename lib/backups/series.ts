import { KIND_LABELS, OBJECT_KINDS, type ObjectKind } from "../contracts/backup-names";
import type { z } from "zod";
import type { Anomaly, SizeChartAnswer } from "../contracts/catalog";
import type { BackupSet } from "./grouping";

/** The size trend in columns (what uPlot draws); its shape is the wire contract SizeChartAnswer. */
export type SizeChartData = z.infer<typeof SizeChartAnswer>;
/** One marked point of the size chart. */
export type ChartFlag = SizeChartData["flags"][number];

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
