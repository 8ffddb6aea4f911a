"use client";

import Link from "next/link";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { Badge } from "@/components/ui/badge";
import { Banner } from "@/components/ui/banner";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { PageHeader } from "@/components/ui/page-header";
import { DrainOptions, type NodeActionResult, type NodeDetail } from "@/lib/contracts/nodes";
import { drainCommand } from "@/lib/kube/format";
import { nodeActions, nodeDetailQuery, nodeDrainQuery, nodeKeys } from "./queries";
import { ConfirmDialog } from "./confirm-dialog";
import { DrainOptionsForm } from "./drain-options";
import { drainChoices } from "@/lib/kube/choices";
import { DrainProgress } from "./drain-progress";
import { CommandBlock } from "./kubectl-command";
import { NodeStatusBadges } from "./node-badges";
import { useNow } from "./use-now";
import { PodsTable } from "./pods-table";
import { ResourceBar } from "./resource-bar";
import { cpu, mem, rolesText, shortAge } from "./format";
import { Allowed } from "@/components/layout/session";

type Dialog = null | "cordon" | "uncordon" | "drain" | "delete";

/** One node: conditions, taints, pods, and the actions (cordon, uncordon, drain, delete) behind confirmations. */
export function NodeDetailView({ name }: { name: string }) {
  const qc = useQueryClient();
  const q = useQuery(nodeDetailQuery(name));
  const drainQ = useQuery(nodeDrainQuery(name));
  const now = useNow();
  const [dialog, setDialog] = useState<Dialog>(null);
  const [result, setResult] = useState<NodeActionResult | null>(null);
  const [deleted, setDeleted] = useState(false);
  const [drainOpts, setDrainOpts] = useState<DrainOptions>(() => DrainOptions.parse({}));

  const action = useMutation({
    mutationFn: async (kind: Exclude<Dialog, null>) => {
      if (kind === "cordon") return nodeActions.cordon(name);
      if (kind === "uncordon") return nodeActions.uncordon(name);
      if (kind === "delete") return nodeActions.remove(name, name);
      await nodeActions.drain(name, drainOpts);
      return null;
    },
    onSuccess: (r, kind) => {
      setDialog(null);
      setResult(r);
      if (kind === "delete") setDeleted(true);
    },
    onSettled: () => {
      qc.invalidateQueries({ queryKey: nodeKeys.all });
    },
  });
  const stop = useMutation({
    mutationFn: () => nodeActions.stopDrain(name),
    onSettled: () => {
      qc.invalidateQueries({ queryKey: nodeKeys.drain(name) });
    },
  });

  const open = (d: Dialog) => {
    action.reset();
    setDialog(d);
  };
  const err = q.error;
  const detail: NodeDetail | undefined = q.data;
  const node = detail?.node;
  const drain = drainQ.data?.job;
  // When a drain ends, show the node's pods as they are now rather than at the last refresh.
  const lastDrainState = useRef<string | undefined>(undefined);
  useEffect(() => {
    if (lastDrainState.current === "running" && drain?.state !== "running") qc.invalidateQueries({ queryKey: nodeKeys.detail(name) });
    lastDrainState.current = drain?.state;
  }, [drain?.state, name, qc]);
  const movable = detail?.pods.filter((p) => !p.terminating && (p.kind === "workload" || p.kind === "unmanaged")) ?? [];

  return (
    <div>
      <p className="mb-2 text-sm">
        <Link href="/nodes" className="text-blue-700 hover:underline">
          Nodes
        </Link>{" "}
        / {name}
      </p>
      <PageHeader
        title={
          <span className="flex flex-wrap items-center gap-3">
            {name} {node && <NodeStatusBadges node={node} />}
          </span>
        }
        subtitle={
          node
            ? `${rolesText(node)} · ${node.internalIP ?? "no IP"} · ${node.kubeletVersion} · ${node.osImage} (${node.architecture}) · ${shortAge(node.createdAt, now)} old`
            : undefined
        }
        actions={
          node &&
          !deleted && (
            <Allowed access="operator">
              {node.unschedulable ? (
                <Button variant="secondary" onClick={() => open("uncordon")}>
                  Uncordon
                </Button>
              ) : (
                <Button variant="secondary" onClick={() => open("cordon")}>
                  Cordon
                </Button>
              )}
              <Allowed access="admin">
                <Button variant="secondary" onClick={() => open("drain")} disabled={drain?.state === "running"}>
                  Drain…
                </Button>
                <Button variant="danger" onClick={() => open("delete")}>
                  Delete…
                </Button>
              </Allowed>
            </Allowed>
          )
        }
      />
      <div className="space-y-4">
        {result && (
          <Banner tone="success" title={result.message}>
            <CommandBlock command={result.kubectl} label="Done — the same with kubectl" />
          </Banner>
        )}
        {deleted && (
          <Banner tone="info">
            <Link href="/nodes" className="text-blue-800 underline">
              Back to the nodes
            </Link>
          </Banner>
        )}
        {err && !deleted && (
          <Banner tone="error" title={err.status === 404 ? `${name} is not in the cluster` : "Cannot show this node"}>
            {err.message}
          </Banner>
        )}
        {q.isPending && <p className="text-sm text-slate-500">Loading {name}…</p>}

        {drain && (
          <Card
            title="Drain"
            actions={
              drain.state === "running" && (
                <Allowed access="admin">
                  <Button variant="secondary" onClick={() => stop.mutate()} disabled={stop.isPending}>
                    Stop drain
                  </Button>
                </Allowed>
              )
            }
          >
            <DrainProgress job={drain} now={now} />
          </Card>
        )}

        {node && detail && (
          <>
            <div className="grid gap-4 lg:grid-cols-3">
              <Card title="Resources (requested / allocatable)">
                <div className="space-y-3">
                  <ResourceBar
                    label="CPU"
                    used={node.requested.cpuMillis}
                    total={node.allocatable.cpuMillis}
                    text={`CPU ${cpu(node.requested.cpuMillis)} / ${cpu(node.allocatable.cpuMillis)}`}
                  />
                  <ResourceBar
                    label="Memory"
                    used={node.requested.memoryBytes}
                    total={node.allocatable.memoryBytes}
                    text={`Memory ${mem(node.requested.memoryBytes)} / ${mem(node.allocatable.memoryBytes)}`}
                  />
                  <ResourceBar label="Pods" used={node.podCount} total={node.allocatable.pods} text={`Pods ${node.podCount} / ${node.allocatable.pods}`} />
                </div>
              </Card>
              <Card title="Taints">
                {node.taints.length ? (
                  <ul className="space-y-1 font-mono text-xs">
                    {node.taints.map((t) => (
                      <li key={`${t.key}:${t.effect}`}>
                        {t.key}
                        {t.value ? `=${t.value}` : ""}:{t.effect}
                      </li>
                    ))}
                  </ul>
                ) : (
                  <p className="text-sm text-slate-600">None: any pod may be scheduled here.</p>
                )}
              </Card>
              <Card title="System">
                <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-1 text-xs">
                  <dt className="text-slate-500">Kubelet</dt>
                  <dd className="font-mono">{node.kubeletVersion}</dd>
                  <dt className="text-slate-500">Runtime</dt>
                  <dd className="font-mono">{node.containerRuntime}</dd>
                  <dt className="text-slate-500">Kernel</dt>
                  <dd className="font-mono">{node.kernelVersion}</dd>
                  <dt className="text-slate-500">OS</dt>
                  <dd>{node.osImage}</dd>
                </dl>
              </Card>
            </div>
            <Card title="Conditions">
              <div className="relative overflow-x-auto">
                <table className="w-full text-left text-sm">
                  <thead className="text-xs uppercase tracking-wide text-slate-500">
                    <tr>
                      <th className="py-1 pr-3 font-medium">Type</th>
                      <th className="py-1 pr-3 font-medium">Status</th>
                      <th className="py-1 pr-3 font-medium">Reason</th>
                      <th className="py-1 pr-3 font-medium">Since</th>
                      <th className="py-1 pr-3 font-medium">Message</th>
                    </tr>
                  </thead>
                  <tbody className="divide-y divide-slate-100">
                    {node.conditions.map((c) => {
                      const bad = c.type === "Ready" ? c.status !== "True" : c.status === "True";
                      return (
                        <tr key={c.type} data-testid={`condition-${c.type}`}>
                          <td className="py-1.5 pr-3 font-medium">{c.type}</td>
                          <td className="py-1.5 pr-3">
                            <Badge tone={bad ? "critical" : "ok"}>{c.status}</Badge>
                          </td>
                          <td className="py-1.5 pr-3 text-xs">{c.reason}</td>
                          <td className="py-1.5 pr-3 text-xs tabular-nums">{shortAge(c.lastTransitionTime, now)}</td>
                          <td className="min-w-48 py-1.5 pr-3 text-xs text-slate-600">{c.message}</td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
            </Card>
            <Card title={`Pods (${detail.pods.length})`}>
              <PodsTable pods={detail.pods} now={now} />
            </Card>
            <details className="rounded-lg border border-slate-200 bg-white p-4 text-sm shadow-sm">
              <summary className="cursor-pointer font-semibold text-slate-800">Labels ({Object.keys(detail.labels).length})</summary>
              <ul className="mt-2 space-y-0.5 font-mono text-xs">
                {Object.entries(detail.labels).map(([k, v]) => (
                  <li key={k}>
                    {k}={v}
                  </li>
                ))}
              </ul>
            </details>
          </>
        )}
      </div>

      {dialog === "cordon" && (
        <ConfirmDialog
          title={`Cordon ${name}?`}
          command={`kubectl cordon ${name}`}
          confirmLabel="Cordon"
          busy={action.isPending}
          error={action.error?.message}
          onConfirm={() => action.mutate("cordon")}
          onCancel={() => setDialog(null)}
        >
          <p>
            No new pods will be scheduled on {name}. The {detail?.pods.length ?? 0} pods already there keep running. You can uncordon it at any time.
          </p>
        </ConfirmDialog>
      )}
      {dialog === "uncordon" && (
        <ConfirmDialog
          title={`Uncordon ${name}?`}
          command={`kubectl uncordon ${name}`}
          confirmLabel="Uncordon"
          busy={action.isPending}
          error={action.error?.message}
          onConfirm={() => action.mutate("uncordon")}
          onCancel={() => setDialog(null)}
        >
          <p>New pods may be scheduled on {name} again.</p>
        </ConfirmDialog>
      )}
      {dialog === "drain" && detail && (
        <ConfirmDialog
          title={`Drain ${name}?`}
          command={drainCommand(name, drainOpts)}
          confirmLabel={`Drain ${name}`}
          busy={action.isPending}
          error={action.error?.message}
          onConfirm={() => action.mutate("drain")}
          onCancel={() => setDialog(null)}
        >
          <p>
            {name} is cordoned, then {movable.length === 1 ? "its pod is" : `its ${movable.length} pods are`} evicted one by one through the Eviction API,
            respecting PodDisruptionBudgets (a refused eviction is retried until the timeout). DaemonSet and static pods stay.
          </p>
          <DrainOptionsForm value={drainOpts} onChange={setDrainOpts} choices={drainChoices(detail.pods)} />
        </ConfirmDialog>
      )}
      {dialog === "delete" && (
        <ConfirmDialog
          title={`Delete the node ${name}?`}
          command={`kubectl delete node ${name}`}
          confirmLabel="Delete node"
          danger
          typeToConfirm={name}
          busy={action.isPending}
          error={action.error?.message}
          onConfirm={() => action.mutate("delete")}
          onCancel={() => setDialog(null)}
        >
          <p>The node object is removed from the cluster. The machine itself is not touched: if k3s still runs on it, it registers again.</p>
          {movable.length > 0 && (
            <p className="rounded-md border border-red-300 bg-red-50 px-3 py-2 text-red-900">
              {movable.length} pod{movable.length === 1 ? " still runs" : "s still run"} on {name}. Deleting the node removes{" "}
              {movable.length === 1 ? "it" : "them"} without respecting PodDisruptionBudgets — drain it first.
            </p>
          )}
        </ConfirmDialog>
      )}
    </div>
  );
}
