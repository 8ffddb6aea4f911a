"use client";

import { useInfiniteQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Badge, type Tone } from "@/components/ui/badge";
import { Banner } from "@/components/ui/banner";
import { Button } from "@/components/ui/button";
import { PageHeader } from "@/components/ui/page-header";
import { formatAge, formatTime } from "@/components/ui/format";
import type { AuditEntryView } from "@/lib/contracts/nodes";
import { auditQuery } from "./queries";

const FILTERS = [
  { prefix: "", label: "Everything" },
  { prefix: "node.", label: "Node actions" },
  { prefix: "worker-migration.", label: "Worker migrations" },
  { prefix: "restore.", label: "Restores" },
  { prefix: "auth.", label: "Sign-ins" },
  { prefix: "user.", label: "Users" },
  { prefix: "token.", label: "API tokens" },
];

const tone = (outcome: string): Tone =>
  ["ok", "succeeded", "done"].includes(outcome)
    ? "ok"
    : ["failed", "error"].includes(outcome)
      ? "critical"
      : ["refused", "cancelled", "interrupted", "warnings"].includes(outcome)
        ? "warning"
        : "info";

/** A short human reading of an entry's detail (message, run, counts), never the raw JSON alone. */
function detailText(detail: unknown): string {
  if (!detail || typeof detail !== "object") return "";
  const d = detail as Record<string, unknown>;
  const parts: string[] = [];
  if (typeof d.message === "string") parts.push(d.message);
  if (typeof d.evicted === "number" && typeof d.message !== "string") parts.push(`${d.evicted} pod${d.evicted === 1 ? "" : "s"} evicted`);
  if (typeof d.newNode === "string") parts.push(`new node ${d.newNode}`);
  if (typeof d.replaces === "string") parts.push(`replaces ${d.replaces}`);
  if (typeof d.via === "string") parts.push(`via ${d.via}`);
  for (const [k, v] of Object.entries(d))
    if (
      !["message", "evicted", "newNode", "replaces", "via", "runId", "jobId", "options", "blockers"].includes(k) &&
      (typeof v === "string" || typeof v === "number")
    )
      parts.push(`${k}: ${v}`);
  return parts.join(" · ");
}

/** Every action the dashboard took on the cluster and the servers, and every sign-in: time, who (role, address), action, target, outcome. */
export function AuditLog() {
  const [prefix, setPrefix] = useState("");
  const q = useInfiniteQuery(auditQuery(prefix));
  const entries: AuditEntryView[] = q.data?.pages.flatMap((p) => p.entries) ?? [];
  return (
    <div>
      <PageHeader
        title="Audit log"
        subtitle="What the dashboard did and who asked, newest first: node actions, worker migrations, restores, sign-ins, users and tokens."
      />
      <div className="mb-4 flex flex-wrap gap-1" role="group" aria-label="Filter">
        {FILTERS.map((f) => (
          <button
            key={f.prefix}
            type="button"
            aria-pressed={prefix === f.prefix}
            onClick={() => setPrefix(f.prefix)}
            className={`rounded-md px-3 py-1.5 text-sm ${prefix === f.prefix ? "bg-slate-800 text-white" : "border border-slate-300 bg-white text-slate-700 hover:bg-slate-100"}`}
          >
            {f.label}
          </button>
        ))}
      </div>
      {q.isError && <Banner tone="error">{(q.error as Error).message}</Banner>}
      {q.data && entries.length === 0 && <p className="text-sm text-slate-600">Nothing recorded yet.</p>}
      {entries.length > 0 && (
        <div className="relative overflow-x-auto rounded-lg border border-slate-200 bg-white shadow-sm">
          <table className="w-full text-left text-sm">
            <thead className="border-b border-slate-200 bg-slate-50 text-xs uppercase tracking-wide text-slate-500">
              <tr>
                <th className="px-3 py-2 font-medium">Time</th>
                <th className="px-3 py-2 font-medium">Who</th>
                <th className="px-3 py-2 font-medium">Action</th>
                <th className="px-3 py-2 font-medium">Target</th>
                <th className="px-3 py-2 font-medium">Outcome</th>
                <th className="px-3 py-2 font-medium">Details</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {entries.map((e) => (
                <tr key={e.id} data-testid="audit-row" className="align-top">
                  <td className="whitespace-nowrap px-3 py-2 text-xs tabular-nums" title={e.at}>
                    {formatTime(e.at)}
                    <div className="text-slate-500">{formatAge(e.at)}</div>
                  </td>
                  <td className="px-3 py-2 text-xs" data-testid="audit-actor">
                    {e.actor ?? "—"}
                    {e.actorRole && <span className="ml-1 text-slate-500">({e.actorRole})</span>}
                    {e.clientAddress && <div className="font-mono text-slate-500">{e.clientAddress}</div>}
                  </td>
                  <td className="px-3 py-2 font-mono text-xs">{e.action}</td>
                  <td className="wrap-anywhere px-3 py-2">{e.target ?? "—"}</td>
                  <td className="px-3 py-2">
                    <Badge tone={tone(e.outcome)}>{e.outcome}</Badge>
                  </td>
                  <td className="px-3 py-2 text-xs text-slate-700">{detailText(e.detail)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {q.hasNextPage && (
        <div className="mt-3 flex items-center gap-3 text-sm text-slate-600">
          <span>Showing the newest {entries.length.toLocaleString("en-US")} entries.</span>
          <Button variant="secondary" onClick={() => void q.fetchNextPage()} disabled={q.isFetchingNextPage}>
            {q.isFetchingNextPage ? "Loading…" : "Show older entries"}
          </Button>
        </div>
      )}
    </div>
  );
}
