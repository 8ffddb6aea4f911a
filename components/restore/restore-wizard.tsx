"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useEffect, useState } from "react";
import { Banner, ConfirmBanner } from "@/components/ui/banner";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { PageHeader } from "@/components/ui/page-header";
import { formatTime } from "@/components/ui/format";
import { WizardActionError } from "@/components/wizard/action-error";
import { RunLoading, WizardLayout, completedSteps } from "@/components/wizard/wizard-layout";
import { RESTORE_WIZARD_STEPS, type RestoreWizardAction, type RestoreWizardView } from "@/lib/restore/contracts";
import { currentRestoreQuery, restoreActions, restoreKeys, restoreRunQuery } from "./queries";
import { ConfirmStep } from "./confirm-step";
import { PreviewStep } from "./preview-step";
import { AfterStep, RestoreStep } from "./restore-step";
import { StageStep } from "./stage-step";
import { WhereStep } from "./where-step";
import { WhichStep } from "./which-step";

const STEPS = RESTORE_WIZARD_STEPS.map((s) => ({ id: s.id, label: s.label }));

function History({ view }: { view: RestoreWizardView }) {
  if (!view.state.events.length) return null;
  return (
    <details className="text-sm text-slate-600" data-testid="restore-history">
      <summary className="cursor-pointer">History of this restore ({view.state.events.length}) — also in the audit log</summary>
      <ol className="mt-2 space-y-1">
        {view.state.events.map((e, i) => (
          <li key={i}>
            <span className="tabular-nums text-slate-500">{formatTime(e.at)}</span> · <span className="font-medium text-slate-700">{e.action}</span> (
            {e.outcome}): {e.message}
          </li>
        ))}
      </ol>
    </details>
  );
}

/**
 * The master-restore wizard: one step at a time with the step list on the side. The run lives on
 * the dashboard's server (saved in its SQLite, following the agent's restore by its id), so a reload,
 * a closed tab or a dashboard restart comes back to the same step; `?run=<id>` keeps a finished
 * run's summary on screen.
 */
export function RestoreWizard({ runParam }: { runParam: string | null }) {
  const qc = useQueryClient();
  const router = useRouter();
  const current = useQuery({ ...currentRestoreQuery(), enabled: !runParam });
  const runId = runParam ?? current.data?.run?.id ?? null;
  const runQ = useQuery({
    ...restoreRunQuery(runId ?? "none"),
    enabled: Boolean(runId),
    initialData: !runParam && current.data?.run ? current.data.run : undefined,
  });
  const [confirmLeave, setConfirmLeave] = useState(false);
  const view = runQ.data;

  useEffect(() => {
    if (view && !runParam) router.replace(`/restore?run=${view.id}`);
  }, [view, runParam, router]);

  const onView = (v: RestoreWizardView) => qc.setQueryData(restoreKeys.run(v.id), v);
  const start = useMutation({
    mutationFn: () => restoreActions.start(),
    onSuccess: (v) => {
      onView(v);
      router.replace(`/restore?run=${v.id}`);
    },
  });
  const act = useMutation({
    mutationFn: (a: RestoreWizardAction) => restoreActions.act(view!.id, a),
    onSuccess: onView,
    onSettled: () => {
      void qc.invalidateQueries({ queryKey: [...restoreKeys.all, "candidates"] });
    },
  });
  const busy = start.isPending || act.isPending;
  const doAct = (a: RestoreWizardAction) => {
    act.reset();
    act.mutate(a);
  };

  const header = (
    <PageHeader
      title="Restore the server"
      subtitle={
        view?.state.target
          ? `Onto ${view.state.target.url} · started ${formatTime(view.createdAt)}`
          : "Put the k3s datastore back from a verified backup — on this server or on a new machine — without a terminal."
      }
      actions={
        view?.status === "active" && (
          <Button variant="ghost" onClick={() => setConfirmLeave(true)} disabled={busy}>
            Leave as is…
          </Button>
        )
      }
    />
  );

  if (!runId) {
    if (current.isPending) return header;
    return (
      <div>
        {header}
        <WizardLayout title="Restore" steps={STEPS} current="where" completed={[]}>
          <Card title="Before you start">
            <div className="space-y-3 text-sm text-slate-700">
              <p>
                The wizard checks the target&apos;s agent, proposes the backup to restore (the newest one a restore drill verified before anything looked
                wrong), shows what it holds and what restoring loses, stages and verifies it on the target, and only then — after you type the node&apos;s name
                — stops k3s, moves the current database aside (it is never deleted) and puts the backup in place. You can roll back until you mark the restore
                done.
              </p>
              {start.error && <Banner tone="error">{start.error.message}</Banner>}
              <Button onClick={() => start.mutate()} disabled={start.isPending}>
                Start a restore
              </Button>
            </div>
          </Card>
        </WizardLayout>
      </div>
    );
  }
  if (!view) {
    return (
      <div>
        {header}
        <RunLoading what="restore" error={runQ.error} onStartOver={() => router.replace("/restore")} />
      </div>
    );
  }

  const completed = completedSteps(STEPS, view);
  const props = { view, busy, act: doAct };
  const another = () => {
    qc.removeQueries({ queryKey: restoreKeys.all });
    router.replace("/restore");
  };

  return (
    <div>
      {header}
      <WizardLayout title="Restore" steps={STEPS} current={view.step} completed={completed}>
        <div className="space-y-4">
          <WizardActionError error={act.error} />
          {runQ.error && runQ.data && (
            <Banner tone="warning">
              The dashboard server does not answer right now ({runQ.error.message}); the page shows what it saw last and keeps trying.
            </Banner>
          )}
          {confirmLeave && (
            <ConfirmBanner
              title="Leave the target as it is and close this restore?"
              keepLabel="Keep going"
              confirmLabel="Leave as is"
              onClose={() => setConfirmLeave(false)}
              onConfirm={() => doAct({ action: "abandon" })}
            >
              {view.state.record ? view.state.record.targetState : "Nothing on the target has changed."} A staged backup that changed nothing is dropped. Every
              step is in the audit log.
            </ConfirmBanner>
          )}
          {view.status === "abandoned" ? (
            <Banner tone="info" title="This restore was closed; the target was left as it was" actions={<Button onClick={another}>Start a new restore</Button>}>
              {view.state.events.at(-1)?.message}
            </Banner>
          ) : view.step === "where" ? (
            <WhereStep {...props} />
          ) : view.step === "which" ? (
            <WhichStep {...props} />
          ) : view.step === "preview" ? (
            <PreviewStep {...props} />
          ) : view.step === "stage" ? (
            <StageStep {...props} />
          ) : view.step === "confirm" ? (
            <ConfirmStep {...props} />
          ) : view.step === "restore" ? (
            <RestoreStep {...props} />
          ) : (
            <AfterStep {...props} />
          )}
          {view.status === "done" && (
            <div>
              <Button variant="secondary" onClick={another}>
                Start a new restore
              </Button>
            </div>
          )}
          <History view={view} />
        </div>
      </WizardLayout>
    </div>
  );
}
