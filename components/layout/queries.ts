import { queryOptions } from "@tanstack/react-query";
import { apiFetch } from "@/lib/client/api-fetch";
import { AlertSummary } from "@/lib/contracts/alerts";

/**
 * The navigation's own query: how many alerts fire. Keyed under `alerts` like components/alerts/queries.ts,
 * so invalidating the alerts reaches the count too (the layout may not import a feature folder).
 */
export const alertCountQuery = () =>
  queryOptions({
    queryKey: ["alerts", "summary"] as const,
    queryFn: ({ signal }) => apiFetch("/api/alerts/summary", AlertSummary, { signal }),
    refetchInterval: 30_000,
    retry: false,
  });
