import { infiniteQueryOptions } from "@tanstack/react-query";
import { apiFetch } from "@/lib/client/api-fetch";
import { AuditResponse } from "@/lib/contracts/nodes";

/** The browser's side of the audit log's API (keys general → specific). */

export const auditKeys = {
  all: ["audit"] as const,
  list: (prefix: string) => [...auditKeys.all, prefix] as const,
};

/** Entries per page of the audit log. */
export const AUDIT_PAGE = 300;

/**
 * The entries whose action starts with `prefix` ("" for all), newest first, a page of AUDIT_PAGE at
 * a time (the next page: the entries older than the last one shown), refreshed every 10 s.
 */
export const auditQuery = (prefix: string) =>
  infiniteQueryOptions({
    queryKey: auditKeys.list(prefix),
    queryFn: ({ signal, pageParam }) =>
      apiFetch(
        `/api/audit?limit=${AUDIT_PAGE}${prefix ? `&prefix=${encodeURIComponent(prefix)}` : ""}${pageParam ? `&before=${pageParam}` : ""}`,
        AuditResponse,
        { signal },
      ),
    initialPageParam: null as number | null,
    getNextPageParam: (last) => (last.entries.length === AUDIT_PAGE ? last.entries[last.entries.length - 1].id : null),
    refetchInterval: 10_000,
  });
