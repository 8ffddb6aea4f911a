"use client";

import { useQuery } from "@tanstack/react-query";
import { alertCountQuery } from "./queries";

/** The number of firing alerts beside "Alerts" in the navigation: red when one is critical, nothing when none fires. */
export function AlertCount() {
  const q = useQuery(alertCountQuery());
  const n = q.data?.firing ?? 0;
  if (!n) return null;
  const critical = (q.data?.critical ?? 0) > 0;
  return (
    <span
      data-testid="alert-count"
      aria-label={`${n} firing${critical ? `, ${q.data!.critical} critical` : ""}`}
      className={`ml-1.5 inline-flex min-w-5 items-center justify-center rounded-full px-1.5 text-xs font-semibold ${critical ? "bg-red-600 text-white" : "bg-amber-400 text-slate-900"}`}
    >
      {n}
    </span>
  );
}
