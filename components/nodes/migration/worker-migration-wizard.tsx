"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useEffect, useState } from "react";
import { Banner, ConfirmBanner } from "@/components/ui/banner";
import { Button } from "@/components/ui/button";
import { PageHeader } from "@/components/ui/page-header";
import { ago } from "../format";
import { WizardActionError } from "@/components/wizard/action-error";
import { RunLoading, WizardLayout, completedSteps } from "@/components/wizard/wizard-layout";
import { WORKER_MIGRATION_STEPS, type RevealedToken, type WorkerMigrationAction, type WorkerMigrationView } from "@/lib/contracts/nodes";
import { currentMigrationQuery, migrationActions, migrationKeys, migrationRunQuery, nodeKeys } from "../queries";
import { KubeErrorBanner } from "../kube-error-banner";
import { useNow } from "../use-now";
import { ChooseStep } from "./choose-step";
import { PrecheckStep } from "./precheck-step";
import { CordonStep, DeleteStep, DrainStep, JoinStep, SummaryStep, WaitStep } from "./steps";

const STEPS = WORKER_MIGRATION_STEPS.map((s) => ({ id: s.id, label: s.label }));

/**
 * The worker-migration wizard: one step at a time with the step list on the side. The run lives on
 * the server (saved in the dashboard's SQLite), so a reload or a new tab resumes at the same step;
 * `?run=<id>` keeps a finished run's summary on screen.
 */
export function WorkerMigrationWizard({ runParam }: { runParam: string | null }) {
  const qc = useQueryClient();
  const router = useRouter();
  const now = useNow();
  const current = useQuery({ ...currentMigrationQuery(), enabled: !runParam });
  const runId = runParam ?? current.data?.run?.id ?? null;
  const runQ = useQuery({
    ...migrationRunQuery(runId ?? "none"),
    enabled: Boolean(runId),
    initialData: !runParam && current.data?.run ? current.data.run : undefined,
  });
  const [revealed, setRevealed] = useState<RevealedToken | null>(null);
  const [confirmAbandon, setConfirmAbandon] = useState(false);

  const view: WorkerMigrationView | undefined = runQ.data;
  useEffect(() => {
    // Keep the run in the address bar, so its summary survives a reload after it is finished.
    if (view && !runParam) router.replace(`/nodes/migrate?run=${view.id}`);
  }, [view, runParam, router]);

  const onView = (v: WorkerMigrationView) => {
    qc.setQueryData(migrationKeys.run(v.id), v);
    qc.invalidateQueries({ queryKey: nodeKeys.all });
  };
  const start = useMutation({
    mutationFn: (node: string) => migrationActions.start(node),
    onSuccess: (v) => {
      onView(v);
      router.replace(`/nodes/migrate?run=${v.id}`);
    },
  });
  const act = useMutation({
    mutationFn: (a: WorkerMigrationAction) => migrationActions.act(view!.id, a),
    onSuccess: onView,
    // Not awaited: the step's buttons need not wait for the background refetch.
    onSettled: () => {
      qc.invalidateQueries({ queryKey: migrationKeys.all });
    },
  });
  const reveal = useMutation({ mutationFn: () => migrationActions.revealToken(view!.id), onSuccess: setRevealed });
  const demoJoin = useMutation({ mutationFn: () => migrationActions.demoJoin(view!.id), onSuccess: onView });
  const busy = start.isPending || act.isPending || reveal.isPending || demoJoin.isPending;
  const doAct = (a: WorkerMigrationAction) => {
    act.reset();
    act.mutate(a);
  };
  const actionError = act.error ?? reveal.error ?? demoJoin.error;

  const header = (
    <PageHeader
      title="Migrate a worker"
      subtitle={
        view?.state.node
          ? `Replacing ${view.state.node} · started ${ago(view.createdAt, now)}`
          : "Replace a worker the way the incident write-up did — cordon, drain, delete, join the new one — without a terminal."
      }
      actions={
        view?.status === "active" && (
          <Button variant="ghost" onClick={() => setConfirmAbandon(true)} disabled={busy}>
            Abandon…
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
        <WizardLayout title="Worker migration" steps={STEPS} current="choose" completed={[]}>
          <ChooseStep onChoose={(n) => start.mutate(n)} busy={start.isPending} error={start.error?.message ?? null} />
        </WizardLayout>
      </div>
    );
  }
  if (!view) {
    return (
      <div>
        {header}
        <RunLoading what="migration" error={runQ.error} onStartOver={() => router.replace("/nodes/migrate")} />
      </div>
    );
  }

  const completed = completedSteps(STEPS, view);
  const props = { view, busy, now };
  const another = () => {
    setRevealed(null);
    qc.removeQueries({ queryKey: migrationKeys.all });
    router.replace("/nodes/migrate");
  };

  return (
    <div>
      {header}
      <WizardLayout title="Worker migration" steps={STEPS} current={view.step} completed={completed}>
        <div className="space-y-4">
          {view.error && <KubeErrorBanner error={view.error} />}
          <WizardActionError error={actionError} />
          {confirmAbandon && (
            <ConfirmBanner
              title="Abandon this migration?"
              keepLabel="Keep going"
              confirmLabel="Abandon"
              onClose={() => setConfirmAbandon(false)}
              onConfirm={() => doAct({ action: "abandon" })}
            >
              What is done stays done
              {view.state.cordonedAt && !view.state.deletedAt ? `: ${view.state.node} stays cordoned until you uncordon it on the Nodes page` : ""}. The steps
              are in the audit log.
            </ConfirmBanner>
          )}
          {view.status === "abandoned" ? (
            <Banner tone="info" title={`This migration of ${view.state.node} was abandoned`} actions={<Button onClick={another}>Start a new migration</Button>}>
              {view.state.events.at(-1)?.message}
            </Banner>
          ) : view.step === "precheck" && view.state.precheck ? (
            <PrecheckStep
              report={view.state.precheck}
              busy={busy}
              onRecheck={() => doAct({ action: "precheck" })}
              onAccept={(ack) => doAct({ action: "accept-precheck", acknowledgeWarnings: ack })}
            />
          ) : view.step === "cordon" ? (
            <CordonStep {...props} onCordon={() => doAct({ action: "cordon" })} />
          ) : view.step === "drain" ? (
            <DrainStep
              {...props}
              onDrain={(options) => doAct({ action: "drain", options })}
              onStop={() => doAct({ action: "cancel-drain" })}
              onContinue={() => doAct({ action: "drained" })}
            />
          ) : view.step === "delete" ? (
            <DeleteStep {...props} onDelete={(confirm) => doAct({ action: "delete", confirm })} />
          ) : view.step === "join" ? (
            <JoinStep
              {...props}
              revealed={revealed}
              onReveal={() => reveal.mutate()}
              onHide={() => setRevealed(null)}
              onJoined={() => doAct({ action: "joined" })}
              onDemoJoin={() => demoJoin.mutate()}
            />
          ) : view.step === "wait" ? (
            <WaitStep {...props} onFinish={() => doAct({ action: "finish" })} />
          ) : view.step === "summary" ? (
            <SummaryStep {...props} onAnother={another} />
          ) : null}
        </div>
      </WizardLayout>
    </div>
  );
}
