"use client";

import { useState } from "react";
import { Banner, ConfirmBanner } from "@/components/ui/banner";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { formatTime } from "@/components/ui/format";
import { SWAP_STEPS } from "@/lib/contracts/agent-restore";
import type { NodesCheck } from "@/lib/restore/contracts";
import { RestoreProgress } from "./restore-progress";
import { FailurePanel } from "./stage-step";
import type { StepProps } from "./where-step";

function AgentAway({ view }: { view: StepProps["view"] }) {
  const p = view.state.agentProblem;
  if (!p) return null;
  return (
    <Banner tone="warning" title={`The agent at ${p.url} does not answer right now`}>
      {p.message} The restore goes on there on its own (its journal finishes it even after a restart); this page keeps asking and shows what was last seen.
    </Banner>
  );
}

/** Step 6, Restore: live progress of stop → swap → owner and mode → start → check; a failure with its choices. */
export function RestoreStep({ view, busy, act }: StepProps) {
  const rec = view.state.record;
  const failed = rec?.status === "failed";
  return (
    <div className="space-y-4">
      <AgentAway view={view} />
      <Card title="6. Restore">
        <RestoreProgress record={rec} job={view.job} only={[...SWAP_STEPS]} label="Restore progress" />
        {rec && !failed && (
          <p className="mt-3 text-sm text-slate-600" data-testid="target-state">
            {rec.targetState}
          </p>
        )}
      </Card>
      {failed && (
        <FailurePanel title="The restore did not finish" error={rec!.error} targetState={rec!.targetState}>
          {rec!.canConfirm && (
            <Button onClick={() => act({ action: "retry" })} disabled={busy}>
              Retry
            </Button>
          )}
          {rec!.canRollback && (
            <Button variant="danger" onClick={() => act({ action: "rollback" })} disabled={busy}>
              Roll back to the previous database
            </Button>
          )}
          <Button variant="ghost" onClick={() => act({ action: "abandon" })} disabled={busy}>
            Leave as is
          </Button>
        </FailurePanel>
      )}
    </div>
  );
}

function Check({ ok, children }: { ok: boolean; children: React.ReactNode }) {
  return (
    <li className="flex items-start gap-2">
      <span aria-hidden className={ok ? "text-emerald-700" : "text-red-700"}>
        {ok ? "✓" : "✕"}
      </span>
      <span>
        {children}
        <span className="sr-only"> ({ok ? "ok" : "problem"})</span>
      </span>
    </li>
  );
}

function Nodes({ nodes, kubeConfigured }: { nodes: NodesCheck | null; kubeConfigured: boolean }) {
  if (!nodes) return <p className="text-sm text-slate-500">{kubeConfigured ? "Asking the Kubernetes API…" : ""}</p>;
  const tone =
    nodes.state === "ready"
      ? "text-emerald-800"
      : nodes.state === "waiting"
        ? "text-blue-800"
        : nodes.state === "not-configured"
          ? "text-slate-600"
          : "text-amber-900";
  return (
    <div className="space-y-2 text-sm" data-testid="nodes-check" data-state={nodes.state}>
      <p className={tone}>
        {nodes.state === "waiting" && <span aria-hidden className="mr-1 inline-block h-2 w-2 animate-pulse rounded-full bg-blue-600" />}
        {nodes.message}
        {nodes.state === "waiting" && <span className="text-slate-500"> (until {formatTime(nodes.deadline)})</span>}
      </p>
      {nodes.nodes.length > 0 && (
        <ul className="flex flex-wrap gap-2">
          {nodes.nodes.map((n) => (
            <li
              key={n.name}
              className={`rounded-full px-2 py-0.5 text-xs ring-1 ring-inset ${n.ready === "Ready" ? "bg-emerald-50 text-emerald-800 ring-emerald-300" : "bg-amber-50 text-amber-900 ring-amber-300"}`}
            >
              {n.name}
              {n.controlPlane ? " (server)" : ""}: {n.ready}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/**
 * Step 7, After: the database passes quick_check, owner and mode are right, k3s runs; nodes come
 * back Ready (when a Kubernetes API is configured). Rollback is offered until the restore is marked
 * done.
 */
export function AfterStep({ view, busy, act }: StepProps) {
  const s = view.state;
  const rec = s.record;
  const [confirmRollback, setConfirmRollback] = useState(false);
  const after = rec?.after;
  const rollingBack = rec?.status === "rolling-back";
  const rolledBack = rec?.status === "rolled-back";
  const closed = view.status !== "active";
  return (
    <div className="space-y-4">
      <AgentAway view={view} />
      {closed && s.outcome === "restored" && (
        <Banner tone="success" title="Restore done">
          The restored database stays; the previous one is kept in <span className="font-mono">{rec?.asideDir}</span> should you ever need it.
        </Banner>
      )}
      {rolledBack && (
        <Banner tone="info" title="Rolled back: the previous database is back in place">
          {rec!.targetState}
        </Banner>
      )}
      {rollingBack && (
        <Card title="Rolling back">
          <RestoreProgress record={rec} job={view.job} only={[...SWAP_STEPS]} label="Rollback progress" />
        </Card>
      )}
      <Card title={rolledBack ? "7. After the rollback" : "7. After the restore"}>
        {after ? (
          <ul className="space-y-1 text-sm" data-testid="after-checks">
            <Check ok={after.quickCheck.ok}>
              quick_check of the live database: {after.quickCheck.ok ? "ok" : after.quickCheck.messages.slice(0, 3).join("; ")}
            </Check>
            <Check ok={after.ownershipOk}>
              owner and mode: {after.ownershipOk ? "as configured (files 0600, directory 0700)" : after.ownershipProblems.join("; ")}
            </Check>
            <Check ok={after.k3sState === "active"}>k3s: {after.k3sState}</Check>
            <Check ok={after.noStaleWal}>no stale WAL next to the live database</Check>
            {rec?.asideDir && !rolledBack && (
              <li className="pl-6 text-slate-600">
                The previous database: <span className="font-mono text-xs">{rec.asideDir}</span>
              </li>
            )}
          </ul>
        ) : (
          <p className="text-sm text-slate-500">Waiting for the agent&apos;s checks…</p>
        )}
        {!rolledBack && rec?.status === "succeeded" && (
          <div className="mt-4 border-t border-slate-100 pt-3">
            <h3 className="mb-1 text-xs font-semibold uppercase tracking-wide text-slate-500">Nodes</h3>
            <Nodes nodes={s.nodes} kubeConfigured={view.kubeConfigured} />
          </div>
        )}
      </Card>
      {!closed && (
        <div className="flex flex-wrap items-center gap-3">
          {rolledBack ? (
            <Button onClick={() => act({ action: "done" })} disabled={busy}>
              Finish
            </Button>
          ) : (
            rec?.status === "succeeded" && (
              <Button onClick={() => act({ action: "done" })} disabled={busy || rollingBack}>
                Keep this restore (done)
              </Button>
            )
          )}
          {rec?.canRollback && !confirmRollback && (
            <Button variant="secondary" onClick={() => setConfirmRollback(true)} disabled={busy}>
              Roll back…
            </Button>
          )}
          {!rolledBack && !rollingBack && (
            <Button variant="ghost" onClick={() => act({ action: "recheck" })} disabled={busy}>
              Check again
            </Button>
          )}
        </div>
      )}
      {confirmRollback && rec?.canRollback && (
        <ConfirmBanner
          title="Roll back to the previous database?"
          keepLabel="Keep the restore"
          confirmLabel="Roll back"
          onClose={() => setConfirmRollback(false)}
          onConfirm={() => act({ action: "rollback" })}
        >
          k3s stops, the restored database is moved aside (kept as db.rolled-back-&lt;timestamp&gt;), <span className="font-mono">{rec.asideDir}</span> goes
          back in place with the configured owner and mode, and k3s starts.
        </ConfirmBanner>
      )}
    </div>
  );
}
