import { queryOptions } from "@tanstack/react-query";
import { apiFetch, jsonBody } from "@/lib/client/api-fetch";
import { LogTimeline } from "@/lib/contracts/continuous";
import { CurrentRestoreRun, RestoreCandidates, RestoreWizardView, type RestoreWizardAction } from "@/lib/restore/contracts";

/** The browser's side of the restore wizard's API: typed fetches and react-query options (keys general → specific). */

export const restoreKeys = {
  all: ["restore"] as const,
  current: () => [...restoreKeys.all, "current"] as const,
  run: (id: string) => [...restoreKeys.all, "run", id] as const,
  candidates: (offset: number) => [...restoreKeys.all, "candidates", offset] as const,
  timeline: (setId: string) => [...restoreKeys.all, "timeline", setId] as const,
};

/** Whether the server side is busy with something the page should follow closely. */
export function followInterval(v: RestoreWizardView | undefined): number | false {
  if (!v || v.status !== "active") return false;
  const rec = v.state.record;
  if (v.state.recovery && !v.state.recovery.report && !v.state.recovery.error) return 1000;
  if (v.step === "stage" && (!rec || rec.status === "running")) return 700;
  if (v.step === "restore") return 700;
  if (v.step === "after" && (rec?.status === "rolling-back" || v.state.nodes?.state === "waiting" || !v.state.nodes)) return 1500;
  if (v.state.agentProblem && v.state.restoreId) return 3000;
  return false;
}

export const currentRestoreQuery = () =>
  queryOptions({ queryKey: restoreKeys.current(), queryFn: ({ signal }) => apiFetch("/api/restore/runs/current", CurrentRestoreRun, { signal }) });

export const restoreRunQuery = (id: string) =>
  queryOptions({
    queryKey: restoreKeys.run(id),
    queryFn: ({ signal }) => apiFetch(`/api/restore/runs/${encodeURIComponent(id)}`, RestoreWizardView, { signal }),
    refetchInterval: (q) => followInterval(q.state.data),
    // Keep following through a dashboard restart or a blip: the run is on the server.
    retry: 3,
  });

export const candidatesQuery = (offset: number) =>
  queryOptions({
    queryKey: restoreKeys.candidates(offset),
    queryFn: ({ signal }) => apiFetch(`/api/restore/candidates?offset=${offset}&limit=20`, RestoreCandidates, { signal }),
    // Drills finish in the background: badges and the proposal follow.
    refetchInterval: 5000,
  });

/** The log's points after `setId` (or "latest"), from the configured agent: the wizard's point-in-time choice. */
export const timelineQuery = (setId: string) =>
  queryOptions({
    queryKey: restoreKeys.timeline(setId),
    queryFn: ({ signal }) => apiFetch(`/api/agent/continuous/timeline?setId=${encodeURIComponent(setId)}`, LogTimeline, { signal }),
    // New points arrive every LIFEBOAT_LOG_INTERVAL_SECONDS; the agent caches what it has read.
    refetchInterval: 15_000,
  });

export const restoreActions = {
  start: () => apiFetch("/api/restore/runs", RestoreWizardView, jsonBody()),
  act: (id: string, action: RestoreWizardAction) => apiFetch(`/api/restore/runs/${encodeURIComponent(id)}`, RestoreWizardView, jsonBody(action)),
};
