import { Badge, type Tone } from "@/components/ui/badge";
import type { PodKind, PodSummary } from "@/lib/contracts/nodes";
import { requestsText, shortAge } from "./format";

const KIND: Record<PodKind, { label: string; tone: Tone; title: string }> = {
  workload: { label: "workload", tone: "neutral", title: "Managed by a controller: recreated elsewhere when evicted" },
  daemonset: { label: "DaemonSet", tone: "info", title: "One per node: a drain leaves it in place" },
  mirror: { label: "static", tone: "info", title: "Run by the kubelet from a file: a drain leaves it in place" },
  unmanaged: { label: "no controller", tone: "warning", title: "Nothing recreates it once evicted" },
  finished: { label: "finished", tone: "neutral", title: "Completed or failed; holds no resources" },
};

/** The pods of a node: what they are to a drain, their requests, and any data kept on the node. */
export function PodsTable({ pods, now }: { pods: PodSummary[]; now?: Date }) {
  if (!pods.length) return <p className="text-sm text-slate-600">No pods run on this node.</p>;
  return (
    <div className="relative overflow-x-auto">
      <table className="w-full text-left text-sm">
        <thead className="text-xs uppercase tracking-wide text-slate-500">
          <tr>
            <th className="py-1.5 pr-3 font-medium">Pod</th>
            <th className="py-1.5 pr-3 font-medium">Kind</th>
            <th className="py-1.5 pr-3 font-medium">Status</th>
            <th className="py-1.5 pr-3 font-medium">Requests</th>
            <th className="py-1.5 pr-3 font-medium">Restarts</th>
            <th className="py-1.5 pr-3 font-medium">Age</th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {pods.map((p) => (
            <tr key={p.uid} data-testid={`pod-${p.name}`} className="align-top">
              <td className="py-1.5 pr-3">
                <div className="font-mono text-xs">
                  <span className="text-slate-500">{p.namespace}/</span>
                  {p.name}
                </div>
                {p.owner && (
                  <div className="text-xs text-slate-500">
                    {p.owner.kind} {p.owner.name}
                  </div>
                )}
                {p.nodeLocalVolumes.map((v) => (
                  <div key={v.volume} className="mt-0.5 text-xs text-amber-800">
                    ⚠ {v.volume}: {v.detail}
                  </div>
                ))}
              </td>
              <td className="py-1.5 pr-3">
                <Badge tone={KIND[p.kind].tone} title={KIND[p.kind].title}>
                  {KIND[p.kind].label}
                </Badge>
              </td>
              <td className="py-1.5 pr-3">
                <Badge tone={p.terminating ? "warning" : p.ready ? "ok" : p.phase === "Succeeded" ? "neutral" : "warning"}>
                  {p.terminating ? "Terminating" : p.ready ? "Running" : p.phase}
                </Badge>
              </td>
              <td className="whitespace-nowrap py-1.5 pr-3 text-xs tabular-nums">{requestsText(p.requests)}</td>
              <td className="py-1.5 pr-3 tabular-nums">{p.restarts}</td>
              <td className="py-1.5 pr-3 tabular-nums">{shortAge(p.createdAt, now)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
