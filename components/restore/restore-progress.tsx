import { ProgressBar } from "@/components/ui/progress-bar";
import { formatBytes } from "@/components/ui/format";
import type { Job } from "@/lib/contracts/agent-jobs";
import type { RestoreRecord, RestoreStep } from "@/lib/contracts/agent-restore";

const ICON: Record<RestoreStep["state"], string> = { pending: "○", running: "◐", done: "✓", failed: "✕", skipped: "–" };
const TONE: Record<RestoreStep["state"], string> = {
  pending: "text-slate-400",
  running: "text-blue-700 animate-pulse",
  done: "text-emerald-700",
  failed: "text-red-700",
  skipped: "text-slate-400",
};

/**
 * Live progress of the agent's restore: a bar (bytes while downloading, then steps) and the steps
 * with what each did. `only` limits the list (stage + verify at step 4; the rest at step 6).
 */
export function RestoreProgress({ record, job, only, label }: { record: RestoreRecord | null; job: Job | null; only: RestoreStep["name"][]; label: string }) {
  // The job (in the agent's memory) is freshest; the record (its journal) survives agent restarts.
  const steps: RestoreStep[] = (record?.steps ?? []).filter((s) => only.includes(s.name));
  const jobSteps = new Map((job?.steps ?? []).map((s) => [s.name, s]));
  const merged = steps.map((s) => {
    const j = jobSteps.get(s.name);
    return j && (j.state === "running" || j.state === "done" || j.state === "failed") && s.state !== "failed"
      ? { ...s, state: j.state, detail: j.detail ?? s.detail }
      : s;
  });
  const done = merged.filter((s) => s.state === "done" || s.state === "skipped").length;
  const running = merged.find((s) => s.state === "running");
  const downloading = running?.name === "stage" && job && job.state === "running";
  const failed = merged.some((s) => s.state === "failed");
  const total = merged.length || only.length;
  return (
    <div data-testid="restore-progress" className="space-y-3">
      {failed ? null : downloading ? (
        <>
          <ProgressBar label={label} value={job!.bytesDone} max={job!.bytesTotal} />
          <p className="text-xs text-slate-600">
            {formatBytes(job!.bytesDone)}
            {job!.bytesTotal ? ` of ${formatBytes(job!.bytesTotal)}` : ""} downloaded, decrypted and unpacked
          </p>
        </>
      ) : (
        <>
          <ProgressBar label={label} value={done} max={total} />
          <p className="text-xs text-slate-600">
            Step {Math.min(done + (running ? 1 : 0), total)} of {total}
            {running ? `: ${running.label}…` : ""}
          </p>
        </>
      )}
      <ol className="space-y-1.5 text-sm">
        {(merged.length ? merged : only.map((name) => ({ name, label: name, state: "pending" as const, detail: null, startedAt: null, finishedAt: null }))).map(
          (s) => (
            <li key={s.name} data-step={s.name} data-state={s.state} className="flex items-start gap-2">
              <span aria-hidden className={`w-4 shrink-0 text-center ${TONE[s.state]}`}>
                {ICON[s.state]}
              </span>
              <span>
                <span className={s.state === "pending" ? "text-slate-500" : "font-medium text-slate-800"}>{s.label}</span>
                <span className="sr-only"> ({s.state})</span>
                {s.detail && <span className="text-slate-600"> — {s.detail}</span>}
              </span>
            </li>
          ),
        )}
      </ol>
    </div>
  );
}
