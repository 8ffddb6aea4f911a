"use client";

import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { nodeDetailQuery, nodesQuery } from "../queries";
import { KubeErrorBanner } from "../kube-error-banner";
import { NodeStatusBadges } from "../node-badges";
import { PodsTable } from "../pods-table";
import { rolesText } from "../format";

/** Step 1: pick the worker to replace, and see what runs on it. */
export function ChooseStep({ onChoose, busy, error }: { onChoose: (node: string) => void; busy: boolean; error: string | null }) {
  const nodes = useQuery(nodesQuery());
  const [selected, setSelected] = useState<string | null>(null);
  const detail = useQuery({ ...nodeDetailQuery(selected ?? ""), enabled: Boolean(selected) });
  const list = nodes.data?.nodes ?? [];
  return (
    <div className="space-y-4">
      <Card title="Which worker do you want to replace?">
        <p className="mb-3 text-sm text-slate-600">
          The wizard cordons it, drains its pods onto the other nodes, removes it from the cluster, and then helps the new machine join. The control plane (the
          k3s server) is not replaced here: restore it from a backup instead.
        </p>
        {nodes.data?.error && <KubeErrorBanner error={nodes.data.error} cachedAt={list.length ? nodes.data.fetchedAt : null} />}
        {nodes.isPending && <p className="text-sm text-slate-500">Loading nodes…</p>}
        <div role="radiogroup" aria-label="Worker to replace" className="grid gap-2 sm:grid-cols-2 lg:grid-cols-3">
          {list.map((n) => (
            <label
              key={n.uid}
              className={`flex cursor-pointer items-start gap-3 rounded-md border p-3 text-sm ${n.controlPlane ? "cursor-not-allowed border-slate-200 bg-slate-50 text-slate-400" : selected === n.name ? "border-blue-600 bg-blue-50" : "border-slate-300 bg-white hover:border-slate-400"}`}
            >
              <input
                type="radio"
                name="node"
                value={n.name}
                disabled={n.controlPlane}
                checked={selected === n.name}
                onChange={() => setSelected(n.name)}
                className="mt-1"
                aria-label={n.name}
              />
              <span className="min-w-0">
                <span className="flex flex-wrap items-center gap-2 font-medium text-slate-900">
                  {n.name} <NodeStatusBadges node={n} />
                </span>
                <span className="block text-xs text-slate-600">
                  {rolesText(n)} · {n.internalIP ?? "no IP"} · {n.podCount} pods · {n.kubeletVersion}
                </span>
                {n.controlPlane && <span className="block text-xs">Runs the k3s server: use the restore wizard.</span>}
              </span>
            </label>
          ))}
        </div>
      </Card>
      {selected && (
        <Card title={`What runs on ${selected}`}>
          {detail.isPending && <p className="text-sm text-slate-500">Loading…</p>}
          {detail.error && <p className="text-sm text-red-800">{(detail.error as Error).message}</p>}
          {detail.data && <PodsTable pods={detail.data.pods} />}
        </Card>
      )}
      {error && (
        <p role="alert" className="rounded-md border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-900">
          {error}
        </p>
      )}
      <div className="flex justify-end">
        <Button disabled={!selected || busy} onClick={() => selected && onChoose(selected)}>
          {busy ? "Checking…" : selected ? `Check ${selected}` : "Choose a worker"}
        </Button>
      </div>
    </div>
  );
}
