import { Badge } from "@/components/ui/badge";
import type { Anomaly } from "@/lib/contracts/catalog";

const TYPE_LABELS: Record<Anomaly["type"], string> = { growth: "Growth", shrink: "Shrink", gap: "Gap", stale: "Stale" };

/** One badge per anomaly type and level (the highest ratio shown); the reasons are in its tooltip. */
export function AnomalyBadges({ anomalies }: { anomalies: readonly Anomaly[] }) {
  if (!anomalies.length) return <span className="text-xs text-slate-400">—</span>;
  const groups = new Map<string, Anomaly[]>();
  for (const a of anomalies) {
    const k = `${a.level}:${a.type}`;
    groups.set(k, [...(groups.get(k) ?? []), a]);
  }
  const ordered = [...groups.values()].sort((a, b) => (a[0].level === b[0].level ? 0 : a[0].level === "critical" ? -1 : 1));
  return (
    <span className="flex flex-wrap gap-1">
      {ordered.map((g) => {
        const ratio = Math.max(...g.map((a) => a.ratio ?? 0));
        const { level, type } = g[0];
        return (
          <Badge key={`${level}:${type}`} tone={level === "critical" ? "critical" : "warning"} title={g.map((a) => a.reason).join("\n")}>
            <span aria-hidden>{level === "critical" ? "●" : "▲"}</span>
            {TYPE_LABELS[type]}
            {ratio > 0 && type !== "stale" && ` ${ratio >= 10 ? ratio.toFixed(0) : ratio.toFixed(1)}×`}
            <span className="sr-only"> ({level})</span>
          </Badge>
        );
      })}
    </span>
  );
}
