"use client";

import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { Banner } from "@/components/ui/banner";
import { PageHeader } from "@/components/ui/page-header";
import { NODES_REFRESH_MS, nodesQuery } from "./queries";
import { KubeErrorBanner } from "./kube-error-banner";
import { NodeStatusBadges } from "./node-badges";
import { ResourceBar } from "./resource-bar";
import { ago, cpu, mem, rolesText, shortAge } from "./format";
import { useNow } from "./use-now";
import { Allowed } from "@/components/layout/session";

/** The cluster's nodes, refreshed every few seconds; the last list stays on screen when the API fails. */
export function NodesPage() {
  const q = useQuery(nodesQuery());
  const now = useNow();
  const data = q.data;
  return (
    <div>
      <PageHeader
        title="Nodes"
        subtitle={
          data?.cluster ? (
            <>
              Cluster <strong>{data.cluster.name}</strong> · <span className="font-mono text-xs">{data.cluster.server}</span>
            </>
          ) : (
            "The machines of your k3s cluster."
          )
        }
        actions={
          <Allowed access="admin">
            <Link href="/nodes/migrate" className="rounded-md bg-blue-700 px-3 py-1.5 text-sm font-medium text-white hover:bg-blue-800">
              Migrate a worker
            </Link>
          </Allowed>
        }
      />
      <div className="space-y-4">
        {q.isError && (
          <Banner tone="error" title="The dashboard server did not answer">
            {(q.error as Error).message}
          </Banner>
        )}
        {data?.error && <KubeErrorBanner error={data.error} cachedAt={data.nodes.length ? data.fetchedAt : null} now={now} />}
        {q.isPending && <p className="text-sm text-slate-500">Loading nodes…</p>}
        {data && data.nodes.length > 0 && (
          <div className={`relative overflow-x-auto rounded-lg border border-slate-200 bg-white shadow-sm ${data.live ? "" : "opacity-80"}`}>
            <table className="w-full text-left text-sm">
              <thead className="border-b border-slate-200 bg-slate-50 text-xs uppercase tracking-wide text-slate-500">
                <tr>
                  <th className="px-3 py-2 font-medium">Name</th>
                  <th className="px-3 py-2 font-medium">Status</th>
                  <th className="px-3 py-2 font-medium">Roles</th>
                  <th className="px-3 py-2 font-medium">Version</th>
                  <th className="px-3 py-2 font-medium">Internal IP</th>
                  <th className="px-3 py-2 font-medium">OS / arch</th>
                  <th className="px-3 py-2 font-medium">CPU requested</th>
                  <th className="px-3 py-2 font-medium">Memory requested</th>
                  <th className="px-3 py-2 font-medium">Pods</th>
                  <th className="px-3 py-2 font-medium">Age</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {data.nodes.map((n) => (
                  <tr key={n.uid} data-testid={`node-row-${n.name}`} className="align-top hover:bg-slate-50">
                    <td className="px-3 py-2.5 font-medium">
                      <Link href={`/nodes/${encodeURIComponent(n.name)}`} className="text-blue-700 hover:underline">
                        {n.name}
                      </Link>
                    </td>
                    <td className="px-3 py-2.5">
                      <NodeStatusBadges node={n} />
                      {n.readySince && <div className="mt-1 text-xs text-slate-500">since {shortAge(n.readySince, now)}</div>}
                    </td>
                    <td className={`px-3 py-2.5 ${n.roles.length ? "" : "text-slate-500"}`}>{rolesText(n)}</td>
                    <td className="px-3 py-2.5 font-mono text-xs">{n.kubeletVersion}</td>
                    <td className="px-3 py-2.5 font-mono text-xs">{n.internalIP ?? "—"}</td>
                    <td className="px-3 py-2.5 text-xs">
                      <div>{n.osImage}</div>
                      <div className="text-slate-500">{n.architecture}</div>
                    </td>
                    <td className="px-3 py-2.5">
                      <ResourceBar
                        label={`${n.name} CPU`}
                        used={n.requested.cpuMillis}
                        total={n.allocatable.cpuMillis}
                        text={`${cpu(n.requested.cpuMillis)} / ${cpu(n.allocatable.cpuMillis)}`}
                      />
                    </td>
                    <td className="px-3 py-2.5">
                      <ResourceBar
                        label={`${n.name} memory`}
                        used={n.requested.memoryBytes}
                        total={n.allocatable.memoryBytes}
                        text={`${mem(n.requested.memoryBytes)} / ${mem(n.allocatable.memoryBytes)}`}
                      />
                    </td>
                    <td className="px-3 py-2.5 tabular-nums">
                      {n.podCount} <span className="text-slate-400">/ {n.allocatable.pods}</span>
                    </td>
                    <td className="px-3 py-2.5 tabular-nums">{shortAge(n.createdAt, now)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {data && !data.error && data.nodes.length === 0 && <p className="text-sm text-slate-600">The cluster has no nodes.</p>}
        {data?.fetchedAt && (
          <p className="text-xs text-slate-500" data-testid="nodes-freshness">
            {data.live ? "Updated" : "Last seen"} {ago(data.fetchedAt, now)} · refreshes every {NODES_REFRESH_MS / 1000} s
          </p>
        )}
      </div>
    </div>
  );
}
