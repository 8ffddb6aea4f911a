import { queryOptions } from "@tanstack/react-query";
import { apiFetch } from "@/lib/client/api-fetch";
import { AuditResponse } from "@/lib/contracts/nodes";

/** The browser's side of the audit log's API (keys general → specific). */

export const auditKeys = {
  all: ["audit"] as const,
  list: (prefix: string) => [...auditKeys.all, prefix] as const,
};

/** The newest 300 entries whose action starts with `prefix` ("" for all), refreshed every 10 s. */
export const auditQuery = (prefix: string) =>
  queryOptions({
    queryKey: auditKeys.list(prefix),
    queryFn: ({ signal }) => apiFetch(`/api/audit?limit=300${prefix ? `&prefix=${encodeURIComponent(prefix)}` : ""}`, AuditResponse, { signal }),
    refetchInterval: 10_000,
  });
