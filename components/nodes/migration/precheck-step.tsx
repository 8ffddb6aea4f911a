"use client";

import { useState } from "react";
import { Badge } from "@/components/ui/badge";
import { Banner } from "@/components/ui/banner";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import type { PrecheckReport } from "@/lib/contracts/nodes";
import { PodsTable } from "../pods-table";
import { ago, cpu, mem } from "../format";

/** Step 2: can the others take the pods, what data stays on the node, which budgets will make the drain wait. */
export function PrecheckStep({
  report,
  busy,
  onRecheck,
  onAccept,
}: {
  report: PrecheckReport;
  busy: boolean;
  onRecheck: () => void;
  onAccept: (acknowledge: boolean) => void;
}) {
  const [ack, setAck] = useState(false);
  const c = report.capacity;
  const warn = report.warnings.length > 0;
  return (
    <div className="space-y-4">
      {warn ? (
        <Banner tone="warning" title={`${report.warnings.length} thing${report.warnings.length === 1 ? "" : "s"} to look at before you go on`}>
          <ul className="list-disc space-y-1 pl-5" data-testid="precheck-warnings">
            {report.warnings.map((w) => (
              <li key={w}>{w}</li>
            ))}
          </ul>
        </Banner>
      ) : (
        <Banner tone="success" title="Nothing stands in the way">
          The other nodes have room for {report.node}&apos;s pods, no data is kept on it, and no budget will hold the drain.
        </Banner>
      )}
      {report.notChecked.length > 0 && (
        <Banner tone="info" title="Not checked">
          <ul className="list-disc pl-5">
            {report.notChecked.map((n) => (
              <li key={n}>{n}</li>
            ))}
          </ul>
        </Banner>
      )}
      <div className="grid gap-4 lg:grid-cols-2">
        <Card title="Where the pods go" actions={<Badge tone={c.fits ? "ok" : "warning"}>{c.fits ? "they fit" : "not all fit"}</Badge>}>
          <p className="text-sm text-slate-700">
            {c.needed.pods} pod{c.needed.pods === 1 ? "" : "s"} will be recreated elsewhere, asking for {cpu(c.needed.cpuMillis)} CPU and{" "}
            {mem(c.needed.memoryBytes)}. The other Ready, schedulable nodes have {cpu(c.free.cpuMillis)} CPU and {mem(c.free.memoryBytes)} unrequested.
          </p>
          {c.targets.length > 0 && (
            <table className="mt-3 w-full text-left text-sm">
              <thead className="text-xs uppercase tracking-wide text-slate-500">
                <tr>
                  <th className="py-1 pr-3 font-medium">Node</th>
                  <th className="py-1 pr-3 font-medium">Free CPU</th>
                  <th className="py-1 pr-3 font-medium">Free memory</th>
                  <th className="py-1 pr-3 font-medium">Pod slots</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100 tabular-nums">
                {c.targets.map((t) => (
                  <tr key={t.node}>
                    <td className="py-1 pr-3 font-medium">{t.node}</td>
                    <td className="py-1 pr-3">{cpu(t.free.cpuMillis)}</td>
                    <td className="py-1 pr-3">{mem(t.free.memoryBytes)}</td>
                    <td className="py-1 pr-3">{t.free.pods}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {c.unplaceable.length > 0 && (
            <ul className="mt-3 space-y-1 text-sm text-amber-900">
              {c.unplaceable.map((u) => (
                <li key={u.name}>
                  <span className="font-mono text-xs">{u.name}</span>: {u.reason}
                </li>
              ))}
            </ul>
          )}
        </Card>
        <Card title="PodDisruptionBudgets">
          {report.pdbs.length === 0 ? (
            <p className="text-sm text-slate-600">No budget covers the pods on {report.node}.</p>
          ) : (
            <ul className="space-y-2 text-sm">
              {report.pdbs.map((b) => (
                <li key={`${b.namespace}/${b.name}`} data-testid={`pdb-${b.name}`}>
                  <span className="flex items-center gap-2">
                    <span className="font-medium">
                      {b.namespace}/{b.name}
                    </span>
                    <Badge tone={b.wouldBlock ? "warning" : "ok"}>{b.wouldBlock ? "will make the drain wait" : "allows it"}</Badge>
                  </span>
                  <span className="block text-slate-700">{b.message}</span>
                </li>
              ))}
            </ul>
          )}
        </Card>
      </div>
      <Card title="Data kept on the node">
        {report.nodeLocal.length === 0 ? (
          <p className="text-sm text-slate-600">No pod keeps data on {report.node}&apos;s own disk.</p>
        ) : (
          <ul className="space-y-2 text-sm">
            {report.nodeLocal.map((p) => (
              <li key={`${p.namespace}/${p.name}`}>
                <span className="font-mono text-xs">
                  {p.namespace}/{p.name}
                </span>
                <ul className="ml-4 list-disc text-slate-700">
                  {p.volumes.map((v) => (
                    <li key={v.volume}>
                      <strong>{v.volume}</strong> — {v.detail}
                    </li>
                  ))}
                </ul>
              </li>
            ))}
          </ul>
        )}
        <p className="mt-3 text-xs text-slate-500">
          The write-up moved every PersistentVolumeClaim to network storage before migrating workers, for exactly this reason.
        </p>
      </Card>
      <Card title={`What runs on ${report.node} (${report.pods.length} pods)`}>
        <PodsTable pods={report.pods} />
      </Card>
      <div className="flex flex-wrap items-center justify-between gap-3">
        <p className="text-xs text-slate-500">Checked {ago(report.checkedAt)}.</p>
        <div className="flex flex-wrap items-center gap-3">
          {warn && (
            <label className="flex items-center gap-2 text-sm">
              <input type="checkbox" checked={ack} onChange={(e) => setAck(e.target.checked)} />I have read the warnings
            </label>
          )}
          <Button variant="secondary" onClick={onRecheck} disabled={busy}>
            Check again
          </Button>
          <Button onClick={() => onAccept(ack)} disabled={busy || (warn && !ack)}>
            Continue to cordon
          </Button>
        </div>
      </div>
    </div>
  );
}
