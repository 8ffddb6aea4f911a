"use client";

import { STAGE_STEPS } from "@/lib/contracts/agent-restore";
import { Banner } from "@/components/ui/banner";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { DiffSummary, VerificationSummary } from "./diff-summary";
import { RestoreProgress } from "./restore-progress";
import type { StepProps } from "./where-step";

/** A failure: what failed, what state the target is in, and the choices. */
export function FailurePanel({ title, error, targetState, children }: { title: string; error: string | null; targetState: string; children: React.ReactNode }) {
  return (
    <div data-testid="failure" className="space-y-3 rounded-md border border-red-300 bg-red-50 p-4 text-sm text-red-900">
      <p className="font-semibold">{title}</p>
      {error && <p>{error}</p>}
      <p data-testid="target-state">
        <span className="font-semibold">The target now:</span> {targetState}
      </p>
      <div className="flex flex-wrap gap-2">{children}</div>
    </div>
  );
}

/**
 * Step 4, Stage and verify: the agent downloads, decrypts, unpacks and verifies the backup on the
 * target (progress: bytes, then steps), and compares it with the live database. Nothing on the
 * target changes here.
 */
export function StageStep({ view, busy, act }: StepProps) {
  const rec = view.state.record;
  const failed = rec?.status === "failed";
  const verified = rec?.status === "awaiting-confirmation";
  return (
    <div className="space-y-4">
      <Card title="4. Stage and verify on the target">
        <RestoreProgress record={rec} job={view.job} only={[...STAGE_STEPS]} label="Staging progress" />
        {!rec && !view.state.agentProblem && <p className="mt-2 text-sm text-slate-500">Waiting for the agent…</p>}
        {rec && !failed && !verified && <p className="mt-3 text-sm text-slate-600">{rec.targetState} Nothing on the target changes until you confirm.</p>}
      </Card>
      {failed && (
        <FailurePanel title="Staging failed" error={rec!.error} targetState={rec!.targetState}>
          <Button onClick={() => act({ action: "retry" })} disabled={busy}>
            Retry
          </Button>
          <Button variant="secondary" onClick={() => act({ action: "back", to: "which" })} disabled={busy}>
            Choose another backup
          </Button>
          <Button variant="ghost" onClick={() => act({ action: "abandon" })} disabled={busy}>
            Leave as is
          </Button>
        </FailurePanel>
      )}
      {verified && (
        <>
          <Banner tone="success" title="Staged and verified — nothing on the target has changed yet">
            The backup waits, unpacked on the target&apos;s disk, for your confirmation. Going back drops it.
          </Banner>
          <Card title="What the verification proved">
            <VerificationSummary record={rec!} />
          </Card>
          <Card title="What restoring changes">
            <DiffSummary diff={rec!.diff} diffError={rec!.diffError} />
          </Card>
          <div className="flex items-center gap-3">
            <Button onClick={() => act({ action: "verified" })} disabled={busy}>
              Continue to confirmation →
            </Button>
            <Button variant="ghost" onClick={() => act({ action: "back", to: "which" })} disabled={busy}>
              ← Choose another backup
            </Button>
          </div>
        </>
      )}
    </div>
  );
}
