import { queryOptions } from "@tanstack/react-query";
import { apiFetch } from "@/lib/client/api-fetch";
import { AlertsResponse } from "@/lib/contracts/alerts";

/** The browser's side of the alerts API. The navigation's count (components/layout/queries.ts) sits under the same `alerts` key. */

export const alertKeys = {
  all: ["alerts"] as const,
  list: () => [...alertKeys.all, "list"] as const,
};

/** Firing and resolved alerts, refreshed every 15 s. */
export const alertsQuery = () =>
  queryOptions({
    queryKey: alertKeys.list(),
    queryFn: ({ signal }) => apiFetch("/api/alerts", AlertsResponse, { signal }),
    refetchInterval: 15_000,
  });
