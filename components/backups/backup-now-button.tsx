"use client";

import Link from "next/link";
import { useEffect, useRef, useState } from "react";
import { useRouter } from "next/navigation";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { BackupResult } from "@/lib/contracts/agent-backup";
import { Button } from "@/components/ui/button";
import { ProgressBar } from "@/components/ui/progress-bar";
import { formatBytes } from "@/components/ui/format";
import { agentJobQuery, backupActions, backupKeys } from "./queries";

/**
 * "Back up now": asks the dashboard's server to start a backup on the agent (the browser never talks
 * to the agent), then follows the job with a live progress bar. When the backup succeeds the server
 * has already refreshed the catalog; this refreshes the page's data so the new set shows in the history.
 */
export function BackupNowButton() {
  const [jobId, setJobId] = useState<string | null>(null);
  const [open, setOpen] = useState(false);
  const [joined, setJoined] = useState(false);
  const queryClient = useQueryClient();
  const router = useRouter();
  const settled = useRef<string | null>(null);

  const start = useMutation({
    mutationFn: () => backupActions.start(),
    onSuccess: (s) => {
      setJobId(s.jobId);
      setJoined(s.alreadyRunning);
    },
    onMutate: () => {
      // A new attempt: forget the previous job, so its result never shows next to this one's error.
      setJobId(null);
      setJoined(false);
      setOpen(true);
    },
  });

  const job = useQuery(agentJobQuery(jobId));

  const state = job.data?.state;
  useEffect(() => {
    if (!job.data || state === "running" || settled.current === job.data.id) return;
    settled.current = job.data.id;
    if (state === "succeeded") {
      // The server refreshed the catalog before answering "succeeded": reload what the page shows.
      void queryClient.invalidateQueries({ queryKey: backupKeys.all });
      router.refresh();
    }
  }, [job.data, state, queryClient, router]);

  const running = start.isPending || (jobId !== null && (!job.data || state === "running"));
  const current = job.data?.steps.find((s) => s.state === "running") ?? null;
  const done = job.data?.steps.filter((s) => s.state === "done" || s.state === "skipped").length ?? 0;
  const total = job.data?.steps.length ?? 0;
  const result = state === "succeeded" ? (job.data!.result as BackupResult) : null;
  const error = start.error?.message ?? (state === "failed" ? job.data!.error : null) ?? (job.error ? job.error.message : null);

  return (
    <div className="relative">
      <Button onClick={() => start.mutate()} disabled={running} aria-describedby="backup-now-status">
        {running ? "Backing up…" : "Back up now"}
      </Button>
      {open && (
        <div
          id="backup-now-status"
          aria-live="polite"
          className="absolute right-0 top-full z-20 mt-2 w-[26rem] rounded-lg border border-slate-200 bg-white p-4 text-left text-sm shadow-lg"
        >
          <div className="mb-2 flex items-start justify-between gap-2">
            <p className="font-semibold text-slate-800">
              {error ? "Backup failed" : result ? "Backup complete" : joined ? "A backup is already running" : "Backing up the k3s datastore"}
            </p>
            {!running && (
              <button type="button" className="text-slate-400 hover:text-slate-700" aria-label="Close" onClick={() => setOpen(false)}>
                ×
              </button>
            )}
          </div>
          {running && (
            <>
              <ProgressBar label="Backup progress" value={job.data?.bytesDone ?? 0} max={job.data?.bytesTotal ?? null} />
              <p className="mt-2 text-slate-700">
                {current ? `${current.label}${current.detail ? `: ${current.detail}` : "…"}` : "Starting…"}
                {total > 0 && (
                  <span className="text-slate-500">
                    {" "}
                    · step {Math.min(done + 1, total)} of {total}
                  </span>
                )}
              </p>
              {job.data?.bytesTotal ? (
                <p className="text-xs text-slate-500">
                  {formatBytes(job.data.bytesDone)} of {formatBytes(job.data.bytesTotal)} packed and uploaded
                </p>
              ) : null}
            </>
          )}
          {result && (
            <div className="space-y-1 text-slate-700">
              <p>
                <Link className="font-medium text-blue-700 underline" href={`/backups/${encodeURIComponent(result.setId)}`}>
                  {result.setId}
                </Link>{" "}
                is in the store: {formatBytes(result.manifest.objects.reduce((n, o) => n + o.size, 0))} in {result.manifest.objects.length} encrypted archives
                plus the manifest.
              </p>
              <p className="text-xs text-slate-500">
                integrity_check: {result.manifest.integrity} · {result.manifest.database.rowCount.toLocaleString("en-US")} rows · revision{" "}
                {result.manifest.database.currentRevision.toLocaleString("en-US")}
                {result.retention && result.retention.summary.delete > 0 ? ` · retention removed ${result.retention.summary.delete} old sets` : ""}
                {result.retention?.log && result.retention.log.summary.segmentsDeleted > 0
                  ? ` · retention removed ${result.retention.log.summary.segmentsDeleted} log segments no kept backup needed (${formatBytes(result.retention.log.summary.bytesFreed)})`
                  : ""}
              </p>
              {result.retentionError && <p className="text-xs text-amber-800">{result.retentionError}</p>}
            </div>
          )}
          {error && (
            <p role="alert" className="text-red-800">
              {error}
            </p>
          )}
        </div>
      )}
    </div>
  );
}
