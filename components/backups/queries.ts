import { queryOptions } from "@tanstack/react-query";
import { z } from "zod";
import { apiFetch, jsonBody } from "@/lib/client/api-fetch";
import { Job } from "@/lib/contracts/agent-jobs";
import { CatalogRefreshAnswer, CatalogStatus, SizeChartAnswer } from "@/lib/contracts/catalog";
import { DrillOverview, DrillRecord } from "@/lib/restore/contracts";
import { ContinuousStatus } from "@/lib/contracts/continuous";

/**
 * The browser's side of the backup pages' API: key factories from general to specific (invalidating
 * `backupKeys.all` reaches every backup query), one `queryOptions` per query, and the actions.
 */

export const backupKeys = {
  all: ["backups"] as const,
  series: () => [...backupKeys.all, "series"] as const,
  status: () => [...backupKeys.all, "status"] as const,
  continuous: () => [...backupKeys.all, "continuous"] as const,
};

/** Continuous protection's line from the agent (protected up to N s ago), every 10 s like the log's default interval. */
export const continuousQuery = () =>
  queryOptions({
    queryKey: backupKeys.continuous(),
    queryFn: ({ signal }) => apiFetch("/api/agent/continuous", ContinuousStatus, { signal }),
    refetchInterval: 10_000,
    retry: false,
  });

/** The agent's jobs the page follows (a backup started with "Back up now"). */
export const agentJobKeys = {
  all: ["agent-jobs"] as const,
  detail: (id: string) => [...agentJobKeys.all, id] as const,
};

/** Restore drills: the overview (history, size chart) and one set's drill (its page). */
export const drillKeys = {
  all: ["drills"] as const,
  set: (id: string) => [...drillKeys.all, "set", id] as const,
  overview: () => [...drillKeys.all, "overview"] as const,
};

export const seriesQuery = () =>
  queryOptions({
    queryKey: backupKeys.series(),
    queryFn: ({ signal }) => apiFetch("/api/backups/series", SizeChartAnswer, { signal }),
    staleTime: 60_000,
  });

export const statusQuery = () =>
  queryOptions({
    queryKey: backupKeys.status(),
    queryFn: ({ signal }) => apiFetch("/api/catalog", CatalogStatus, { signal }),
    refetchInterval: 30_000,
  });

/** A backup job, polled every half second while it runs. */
export const agentJobQuery = (id: string | null) =>
  queryOptions({
    queryKey: agentJobKeys.detail(id ?? "none"),
    queryFn: ({ signal }) => apiFetch(`/api/agent/jobs/${encodeURIComponent(id!)}`, Job, { signal }),
    enabled: id !== null,
    refetchInterval: (q) => (q.state.data && q.state.data.state !== "running" ? false : 500),
    retry: 3,
  });

export const drillOverviewQuery = () =>
  queryOptions({
    queryKey: drillKeys.overview(),
    queryFn: ({ signal }) => apiFetch("/api/drills", DrillOverview, { signal }),
    refetchInterval: (q) => (q.state.data && (q.state.data.running || q.state.data.queued) ? 2000 : 15_000),
  });

const DrillAnswer = z.object({ drill: DrillRecord.nullable() });
const verifyUrl = (setId: string) => `/api/backups/${encodeURIComponent(setId)}/verify`;

/** One set's restore drill, polled every second while it is queued or running. */
export const setDrillQuery = (setId: string) =>
  queryOptions({
    queryKey: drillKeys.set(setId),
    queryFn: ({ signal }) => apiFetch(verifyUrl(setId), DrillAnswer, { signal }),
    refetchInterval: (q) => (q.state.data?.drill && ["queued", "running"].includes(q.state.data.drill.state) ? 1000 : false),
  });

const BackupStarted = z.object({ jobId: z.string(), alreadyRunning: z.boolean() });

export const backupActions = {
  /** "Back up now": the new job's id, or the running backup's with `alreadyRunning`. */
  start: () => apiFetch("/api/agent/backups", BackupStarted, jsonBody()),
  /** Lists the store now. */
  refreshCatalog: () => apiFetch("/api/catalog/refresh", CatalogRefreshAnswer, jsonBody()),
  /** "Verify now": queues a restore drill of the set. */
  verify: (setId: string) => apiFetch(verifyUrl(setId), DrillAnswer, jsonBody()),
};
