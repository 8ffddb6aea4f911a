"use client";

import Link from "next/link";
import { useState } from "react";
import { Badge } from "@/components/ui/badge";
import { Banner } from "@/components/ui/banner";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { ProgressBar } from "@/components/ui/progress-bar";
import { formatTime } from "@/components/ui/format";
import { ago } from "../format";
import { DrainOptions, type RevealedToken, type WorkerMigrationView } from "@/lib/contracts/nodes";
import { drainCommand } from "@/lib/kube/format";
import type { WizardStepView } from "@/components/wizard/types";
import { DrainOptionsForm } from "../drain-options";
import { DrainProgress } from "../drain-progress";
import { CommandBlock } from "../kubectl-command";

/** What each migration step gets; its actions come as callbacks (the wizard shapes them). */
export interface StepProps extends WizardStepView<WorkerMigrationView> {
  now: Date;
}
const nodeOf = (v: WorkerMigrationView) => v.state.node ?? "the node";
/** Pods the drain deleted but no kubelet will confirm (a NotReady node): they go with the node object. */
const unconfirmedOf = (v: WorkerMigrationView) => v.drain?.pods.filter((p) => p.state === "deleted").map((p) => `${p.namespace}/${p.name}`) ?? [];

/** What a dead worker's drain means for the next step, said where the user decides. */
function UnconfirmedBanner({ node, pods }: { node: string; pods: string[] }) {
  if (!pods.length) return null;
  return (
    <Banner tone="warning" title={`${node} is NotReady: ${pods.length === 1 ? "1 evicted pod stays" : `${pods.length} evicted pods stay`} Terminating`}>
      <p>
        Its kubelet is gone, so nothing can confirm that {pods.length === 1 ? "this pod" : "these pods"} stopped ({pods.join(", ")}). The drain deleted{" "}
        {pods.length === 1 ? "it" : "them"} and did not wait longer; deleting the node object lets the cluster&apos;s pod garbage collector remove{" "}
        {pods.length === 1 ? "it" : "them"}, and a StatefulSet recreates its pod on another node only then. Make sure the machine is really off (or its k3s
        agent stopped): if it is only cut off from the network, its containers may still be running.
      </p>
    </Banner>
  );
}

/** Step 3. */
export function CordonStep({ view, busy, onCordon }: StepProps & { onCordon: () => void }) {
  const node = nodeOf(view);
  return (
    <Card title={`Cordon ${node}`}>
      <div className="space-y-3 text-sm text-slate-700">
        <p>
          Cordoning marks {node} unschedulable: nothing new lands on it, and the pods already there keep running until the drain. It can be undone (uncordon)
          until the node is deleted.
        </p>
        <CommandBlock command={`kubectl cordon ${node}`} />
        <div className="flex justify-end">
          <Button onClick={onCordon} disabled={busy}>
            Cordon {node}
          </Button>
        </div>
      </div>
    </Card>
  );
}

/** Step 4: choices, then live progress pod by pod (the drain runs in the dashboard server). */
export function DrainStep({
  view,
  busy,
  now,
  onDrain,
  onStop,
  onContinue,
}: StepProps & { onDrain: (o: DrainOptions) => void; onStop: () => void; onContinue: () => void }) {
  const node = nodeOf(view);
  const choices = view.state.precheck?.choices ?? [];
  const [opts, setOpts] = useState<DrainOptions>(() => DrainOptions.parse({}));
  const job = view.drain;
  const running = job?.state === "running";
  return (
    <div className="space-y-4">
      {!running && job?.state !== "succeeded" && (
        <Card title={job ? "Drain again" : `Drain ${node}`}>
          <div className="space-y-3 text-sm text-slate-700">
            <p>
              Every pod on {node} except DaemonSet and static pods is evicted through the Eviction API, so PodDisruptionBudgets are respected: a refused
              eviction is retried until the budget allows it or the time runs out. Evicted pods are recreated on the other nodes by their controllers.
            </p>
            <DrainOptionsForm value={opts} onChange={setOpts} choices={choices} />
            <CommandBlock command={drainCommand(node, opts)} />
            <div className="flex justify-end">
              <Button onClick={() => onDrain(opts)} disabled={busy}>
                {job ? "Drain again" : "Start the drain"}
              </Button>
            </div>
          </div>
        </Card>
      )}
      {job && (
        <Card
          title="Progress"
          actions={
            running && (
              <Button variant="secondary" onClick={onStop} disabled={busy}>
                Stop the drain
              </Button>
            )
          }
        >
          <DrainProgress job={job} now={now} />
        </Card>
      )}
      {job?.state === "succeeded" && <UnconfirmedBanner node={node} pods={unconfirmedOf(view)} />}
      {job?.state === "succeeded" && (
        <div className="flex justify-end">
          <Button onClick={onContinue} disabled={busy}>
            Continue: delete the node
          </Button>
        </div>
      )}
    </div>
  );
}

/** Step 5: typed confirmation, as deleting cannot be undone. */
export function DeleteStep({ view, busy, onDelete }: StepProps & { onDelete: (confirm: string) => void }) {
  const node = nodeOf(view);
  const [typed, setTyped] = useState("");
  const unconfirmed = unconfirmedOf(view);
  return (
    <Card title={`Delete the node ${node}`}>
      <form
        className="space-y-3 text-sm text-slate-700"
        onSubmit={(e) => {
          e.preventDefault();
          if (typed === node) onDelete(typed);
        }}
      >
        <p>
          {node} is drained. Deleting its node object removes it from the cluster for good; the DaemonSet pods left on it go with it
          {unconfirmed.length > 0 ? `, and so do the ${unconfirmed.length === 1 ? "pod" : `${unconfirmed.length} pods`} still Terminating there` : ""}. After
          this you can power the machine off and reinstall it.
        </p>
        <UnconfirmedBanner node={node} pods={unconfirmed} />
        <CommandBlock command={`kubectl delete node ${node}`} />
        <label className="block">
          <span>
            Type <strong className="font-mono">{node}</strong> to confirm
          </span>
          <input
            value={typed}
            onChange={(e) => setTyped(e.target.value)}
            aria-label={`Type ${node} to confirm`}
            autoComplete="off"
            spellCheck={false}
            className="mt-1 block w-full max-w-xs rounded-md border border-slate-300 px-3 py-1.5 font-mono focus:border-blue-600 focus:outline-none"
          />
        </label>
        <div className="flex justify-end">
          <Button type="submit" variant="danger" disabled={busy || typed !== node}>
            Delete {node}
          </Button>
        </div>
      </form>
    </Card>
  );
}

/** Step 6: the join command; the token only after an explicit reveal. */
export function JoinStep({
  view,
  busy,
  onReveal,
  revealed,
  onHide,
  onJoined,
  onDemoJoin,
}: StepProps & { onReveal: () => void; revealed: RevealedToken | null; onHide: () => void; onJoined: () => void; onDemoJoin: () => void }) {
  const join = view.join!;
  const masked = join.command.replace("<token>", "••••••••••••");
  return (
    <div className="space-y-4">
      <Card title="Install k3s on the replacement">
        <div className="space-y-3 text-sm text-slate-700">
          <ol className="list-decimal space-y-1 pl-5">
            <li>Prepare the new machine (in the write-up: flash Raspberry Pi OS Lite to the SD card) and boot it on the same network.</li>
            <li>Run this command on it. It installs the k3s agent, which joins the cluster with the server address and the join token.</li>
          </ol>
          {join.serverWarning && <Banner tone="warning">{join.serverWarning}</Banner>}
          {revealed ? (
            <div className="space-y-2">
              <CommandBlock command={revealed.command} label="Join command (contains the cluster's join token)" testId="join-command" />
              <Button variant="ghost" onClick={onHide}>
                Hide the token
              </Button>
            </div>
          ) : (
            <div className="space-y-2">
              <div>
                <p className="mb-1 text-xs font-medium text-slate-500">Join command</p>
                <code data-testid="join-command-masked" className="block break-all rounded-md bg-slate-900 px-3 py-2 font-mono text-xs text-slate-100">
                  {masked}
                </code>
              </div>
              <p className="text-xs text-slate-600">
                The token is a cluster secret: anyone who has it can join machines to your cluster. It is shown only when you ask, and each reveal is written to
                the audit log (the token itself never is).
              </p>
              {join.tokenAvailable ? (
                <Button variant="secondary" onClick={onReveal} disabled={busy}>
                  Reveal the token
                </Button>
              ) : (
                <Banner tone="info">{join.tokenHelp}</Banner>
              )}
            </div>
          )}
        </div>
      </Card>
      {join.demoCluster && (
        <Card title="Demo cluster: no machine to run it on">
          <div className="space-y-3 text-sm text-slate-700">
            <p>
              This is the simulated demo cluster, so there is no new Raspberry Pi to run the command on. This demo action makes the simulator register one
              instead (NotReady at first, Ready a few seconds later), as the k3s agent would after the command; the wizard then waits for it as usual.
            </p>
            <Button variant="secondary" onClick={onDemoJoin} disabled={busy}>
              Demo: make a new node join
            </Button>
          </div>
        </Card>
      )}
      <div className="flex justify-end">
        <Button onClick={onJoined} disabled={busy}>
          I ran it — wait for the new node
        </Button>
      </div>
    </div>
  );
}

/** Step 7: the page polls until a node that was not there before is Ready. */
export function WaitStep({ view, busy, now, onFinish }: StepProps & { onFinish: () => void }) {
  const nn = view.state.newNode;
  return (
    <div className="space-y-4">
      {nn ? (
        <Banner tone="success" title={`${nn.name} joined and is Ready`}>
          {nn.internalIP ?? "no IP"} · {nn.kubeletVersion} · Ready {ago(nn.readyAt, now)}
        </Banner>
      ) : (
        <Card title="Waiting for the new node">
          <div className="space-y-3 text-sm text-slate-700">
            <p>The installer takes a minute or two. A node that registers from now on and turns Ready is taken as the replacement.</p>
            <ProgressBar label="Waiting for the new node" value={0} max={null} />
            <p className="text-xs text-slate-500">Waiting since {view.state.waitingSince ? ago(view.state.waitingSince, now) : "now"} · checking every 2 s</p>
          </div>
        </Card>
      )}
      {view.candidates.length > 0 && (
        <Card title="New nodes">
          <ul className="space-y-1 text-sm">
            {view.candidates.map((c) => (
              <li key={c.uid} data-testid={`candidate-${c.name}`} className="flex flex-wrap items-center gap-2">
                <span className="font-medium">{c.name}</span>
                <Badge tone={c.ready === "Ready" ? "ok" : "warning"}>{c.ready}</Badge>
                <span className="text-slate-600">
                  {c.internalIP ?? "no IP"} · {c.kubeletVersion} · registered {ago(c.createdAt, now)}
                </span>
              </li>
            ))}
          </ul>
        </Card>
      )}
      <div className="flex justify-end">
        <Button onClick={onFinish} disabled={busy || !nn}>
          Finish
        </Button>
      </div>
    </div>
  );
}

/** Step 8. */
export function SummaryStep({ view, onAnother }: StepProps & { onAnother: () => void }) {
  const s = view.state;
  const evicted = view.drain?.pods.filter((p) => p.state === "gone" || p.state === "deleted").length ?? 0;
  const took = s.finishedAt ? Math.round((new Date(s.finishedAt).getTime() - new Date(view.createdAt).getTime()) / 60000) : null;
  return (
    <div className="space-y-4">
      <Banner tone="success" title={`${s.node} was replaced by ${s.newNode?.name ?? "a new node"}`}>
        {evicted} pod{evicted === 1 ? "" : "s"} moved to the other nodes
        {took !== null ? ` · ${took < 1 ? "under a minute" : `${took} min`} from start to finish` : ""}.
      </Banner>
      <Card title="Before and after">
        <table className="w-full text-left text-sm">
          <thead className="text-xs uppercase tracking-wide text-slate-500">
            <tr>
              <th className="py-1 pr-3 font-medium" />
              <th className="py-1 pr-3 font-medium">Old node</th>
              <th className="py-1 pr-3 font-medium">New node</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            <tr>
              <td className="py-1 pr-3 text-slate-500">Name</td>
              <td className="py-1 pr-3 font-medium">{s.node}</td>
              <td className="py-1 pr-3 font-medium">{s.newNode?.name}</td>
            </tr>
            <tr>
              <td className="py-1 pr-3 text-slate-500">Internal IP</td>
              <td className="py-1 pr-3 font-mono text-xs">{s.nodeInfo?.internalIP ?? "—"}</td>
              <td className="py-1 pr-3 font-mono text-xs">{s.newNode?.internalIP ?? "—"}</td>
            </tr>
            <tr>
              <td className="py-1 pr-3 text-slate-500">k3s version</td>
              <td className="py-1 pr-3 font-mono text-xs">{s.nodeInfo?.kubeletVersion}</td>
              <td className="py-1 pr-3 font-mono text-xs">{s.newNode?.kubeletVersion}</td>
            </tr>
          </tbody>
        </table>
      </Card>
      <Card title="What happened">
        <ol className="space-y-1 text-sm" data-testid="migration-events">
          {s.events.map((e, i) => (
            <li key={i} className="flex gap-3">
              <span className="w-40 shrink-0 text-xs tabular-nums text-slate-500">{formatTime(e.at)}</span>
              <span>
                <span className="font-medium">{e.action}</span>
                {e.outcome !== "ok" && <span className="text-slate-500"> ({e.outcome})</span>} — {e.message}
              </span>
            </li>
          ))}
        </ol>
        <p className="mt-3 text-sm">
          <Link href="/audit" className="text-blue-700 hover:underline">
            Everything is also in the audit log
          </Link>
        </p>
      </Card>
      <div className="flex justify-end gap-2">
        <Link href="/nodes" className="rounded-md border border-slate-300 bg-white px-3 py-1.5 text-sm font-medium text-slate-800 hover:bg-slate-100">
          Back to the nodes
        </Link>
        <Button onClick={onAnother}>Migrate another worker</Button>
      </div>
    </div>
  );
}
