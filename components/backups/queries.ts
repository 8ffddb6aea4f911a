import { queryOptions } from "@tanstack/react-query";
import type { SizeChartData } from "@/lib/backups/series";
import type { CatalogStatus } from "@/lib/contracts/catalog";

/** Query keys from general to specific: invalidating `backupKeys.all` reaches every backup query. */
export const backupKeys = {
  all: ["backups"] as const,
  series: () => [...backupKeys.all, "series"] as const,
  status: () => [...backupKeys.all, "status"] as const,
};

/** GETs a dashboard API route; throws the `{ message }` of a failed answer as a sentence. */
export async function fetchJson<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, { cache: "no-store", ...init });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error((body as { message?: string } | null)?.message ?? `The dashboard answered ${res.status}.`);
  return body as T;
}

export const seriesQuery = () =>
  queryOptions({
    queryKey: backupKeys.series(),
    queryFn: ({ signal }) => fetchJson<SizeChartData>("/api/backups/series", { signal }),
    staleTime: 60_000,
  });

export const statusQuery = () =>
  queryOptions({
    queryKey: backupKeys.status(),
    queryFn: ({ signal }) => fetchJson<CatalogStatus>("/api/catalog", { signal }),
    refetchInterval: 30_000,
  });
