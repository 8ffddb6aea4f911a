"use client";

import { useEffect, useRef, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import type { CatalogStatus } from "@/lib/contracts/catalog";
import { formatAge, formatTime } from "@/components/ui/format";
import { statusQuery } from "./queries";

/**
 * "Updated 3 min ago": how old the cached view is, kept current. Polls the catalog status and
 * re-renders the page when a background refresh brought something new (or failed).
 */
export function CatalogFreshness({ initial }: { initial: CatalogStatus }) {
  // Poll every second while a listing runs (its count moves), every 30 s otherwise.
  const { data } = useQuery({ ...statusQuery(), initialData: initial, refetchInterval: (q) => (q.state.data?.refreshing ? 1000 : 30_000) });
  const router = useRouter();
  // Re-render every 15 s so the age stays current; the age itself is computed at render time.
  const [, setTick] = useState(0);
  const seen = useRef(`${initial.refreshedAt}|${initial.error?.at ?? ""}`);
  useEffect(() => {
    const t = setInterval(() => setTick((n) => n + 1), 15_000);
    return () => clearInterval(t);
  }, []);
  useEffect(() => {
    const key = `${data.refreshedAt}|${data.error?.at ?? ""}`;
    if (key !== seen.current) {
      seen.current = key;
      router.refresh();
    }
  }, [data, router]);
  const now = new Date();
  return (
    <p className="text-sm text-slate-600" data-testid="catalog-freshness">
      {data.refreshedAt ? (
        <>
          Updated{" "}
          <time dateTime={data.refreshedAt} title={formatTime(data.refreshedAt)} suppressHydrationWarning>
            {formatAge(data.refreshedAt, now)}
          </time>
        </>
      ) : (
        "Never listed yet"
      )}
      {" · "}
      {data.refreshedAt ? `${data.objectCount.toLocaleString("en-US")} objects · ` : ""}refreshes every {Math.round(data.refreshIntervalSeconds / 60) || 1} min
      {data.refreshing && (
        <span className="ml-2 text-blue-700" role="status">
          listing the store{data.listing ? `: ${data.listing.objects.toLocaleString("en-US")} objects so far` : ""}…
        </span>
      )}
    </p>
  );
}
