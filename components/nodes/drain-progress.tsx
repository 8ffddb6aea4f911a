import { Badge, type Tone } from "@/components/ui/badge";
import { ProgressBar } from "@/components/ui/progress-bar";
import type { DrainJob, DrainPodState } from "@/lib/contracts/nodes";
import { CommandBlock } from "./kubectl-command";
import { ago } from "./format";

const POD_TONE: Record<DrainPodState, Tone> = {
  pending: "neutral",
  evicting: "info",
  blocked: "warning",
  terminating: "info",
  gone: "ok",
  deleted: "warning",
  failed: "critical",
  skipped: "neutral",
};
const POD_LABEL: Record<DrainPodState, string> = {
  pending: "waiting",
  evicting: "evicting",
  blocked: "blocked",
  terminating: "terminating",
  gone: "evicted",
  deleted: "deleted, unconfirmed",
  failed: "failed",
  skipped: "skipped",
};
const JOB_TONE: Record<DrainJob["state"], Tone> = {
  running: "info",
  succeeded: "ok",
  failed: "critical",
  refused: "warning",
  cancelled: "neutral",
  interrupted: "warning",
};

/** A drain, pod by pod: what is evicted, what waits on a budget (and which), what is left in place. */
export function DrainProgress({ job, now }: { job: DrainJob; now?: Date }) {
  const done = job.pods.filter((p) => p.state === "gone" || p.state === "deleted" || p.state === "skipped").length;
  return (
    <div className="space-y-3" data-testid="drain-progress" data-state={job.state}>
      <div className="flex flex-wrap items-center gap-2 text-sm">
        <Badge tone={JOB_TONE[job.state]}>{job.state === "running" ? "draining" : job.state}</Badge>
        <span className="text-slate-600">
          {job.node} · started {ago(job.startedAt, now)}
          {job.finishedAt ? ` · ended ${ago(job.finishedAt, now)}` : ""}
        </span>
      </div>
      {job.pods.length > 0 && job.state !== "refused" && <ProgressBar label="Drain progress" value={done} max={job.pods.length} />}
      {job.message && (
        <p
          className={`text-sm ${job.state === "failed" || job.state === "refused" ? "font-medium text-red-800" : "text-slate-700"}`}
          role={job.state === "failed" ? "alert" : undefined}
        >
          {job.message}
        </p>
      )}
      {job.needsChoice.length > 0 && (
        <ul className="list-disc space-y-1 pl-5 text-sm text-amber-900">
          {job.needsChoice.map((c) => (
            <li key={`${c.namespace}/${c.name}/${c.reason}`}>
              <span className="font-mono text-xs">
                {c.namespace}/{c.name}
              </span>
              : {c.detail}
            </li>
          ))}
        </ul>
      )}
      {job.pods.length > 0 && (
        <div className="relative overflow-x-auto rounded-md border border-slate-200">
          <table className="w-full text-left text-sm">
            <thead className="bg-slate-50 text-xs uppercase tracking-wide text-slate-500">
              <tr>
                <th className="px-3 py-1.5 font-medium">Pod</th>
                <th className="px-3 py-1.5 font-medium">State</th>
                <th className="px-3 py-1.5 font-medium">Tries</th>
                <th className="px-3 py-1.5 font-medium">Details</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {job.pods.map((p) => (
                <tr key={`${p.namespace}/${p.name}`} data-testid={`drain-pod-${p.name}`} data-state={p.state} className="align-top">
                  <td className="whitespace-nowrap px-3 py-1.5 font-mono text-xs">
                    <span className="text-slate-500">{p.namespace}/</span>
                    {p.name}
                  </td>
                  <td className="px-3 py-1.5">
                    <Badge tone={POD_TONE[p.state]}>{p.state === "pending" && job.state !== "running" ? "not evicted" : POD_LABEL[p.state]}</Badge>
                  </td>
                  <td className="px-3 py-1.5 tabular-nums text-slate-600">{p.attempts || ""}</td>
                  <td className="px-3 py-1.5 text-xs text-slate-700">
                    {p.pdbs.length > 0 && (p.state === "blocked" || p.state === "failed") && (
                      <span className="mr-1 font-medium text-amber-900">PodDisruptionBudget {p.pdbs.join(", ")}: </span>
                    )}
                    {p.message}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <CommandBlock command={job.kubectl} />
    </div>
  );
}
