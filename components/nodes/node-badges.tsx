import { Badge } from "@/components/ui/badge";
import type { NodeSummary } from "@/lib/contracts/nodes";

/** Ready / NotReady, SchedulingDisabled, and any pressure condition, like `kubectl get nodes` STATUS. */
export function NodeStatusBadges({ node }: { node: Pick<NodeSummary, "ready" | "unschedulable" | "pressures"> }) {
  return (
    <span className="inline-flex flex-wrap gap-1">
      <Badge tone={node.ready === "Ready" ? "ok" : node.ready === "NotReady" ? "critical" : "warning"}>{node.ready}</Badge>
      {node.unschedulable && (
        <Badge tone="warning" title="Cordoned: no new pods are scheduled here">
          SchedulingDisabled
        </Badge>
      )}
      {node.pressures.map((p) => (
        <Badge key={p} tone="critical">
          {p}
        </Badge>
      ))}
    </span>
  );
}
