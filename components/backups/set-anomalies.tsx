import { Badge } from "@/components/ui/badge";
import { KIND_LABELS } from "@/lib/contracts/backup-names";
import type { Anomaly } from "@/lib/contracts/catalog";

const TYPE_LABELS: Record<Anomaly["type"], string> = { growth: "Growth", shrink: "Shrink", gap: "Gap", stale: "Stale" };

/** A set's flags, each with its reason in words. */
export function SetAnomalies({ anomalies }: { anomalies: readonly Anomaly[] }) {
  if (!anomalies.length) return <p className="text-sm text-slate-600">No flags: sizes and timing are in line with the previous backups.</p>;
  return (
    <ul className="space-y-3" data-testid="set-anomalies">
      {anomalies.map((a, i) => (
        <li key={i} className="flex items-start gap-3 text-sm">
          <Badge tone={a.level === "critical" ? "critical" : "warning"}>
            {a.level === "critical" ? "Critical" : "Warning"} · {TYPE_LABELS[a.type]}
          </Badge>
          <div>
            <p className="font-medium text-slate-800">{a.kind === "set" ? "The set as a whole" : KIND_LABELS[a.kind]}</p>
            <p className="text-slate-700">{a.reason}</p>
          </div>
        </li>
      ))}
    </ul>
  );
}
