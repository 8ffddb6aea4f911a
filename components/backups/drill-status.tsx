"use client";

import { useEffect, useRef } from "react";
import { useRouter } from "next/navigation";
import { useQuery } from "@tanstack/react-query";
import { drillOverviewQuery } from "./queries";

/**
 * One line about restore drills above the history ("verifying seed-… · 3 queued"), and a refresh of
 * the server-rendered page whenever a drill finishes, so badges change without a reload.
 */
export function DrillStatus() {
  const router = useRouter();
  const { data } = useQuery(drillOverviewQuery());
  const finished = data ? data.drills.filter((d) => d.state === "verified" || d.state === "failed").length : null;
  const last = useRef<number | null>(null);
  useEffect(() => {
    if (finished === null) return;
    if (last.current !== null && finished !== last.current) router.refresh();
    last.current = finished;
  }, [finished, router]);
  if (!data) return null;
  const verified = data.drills.filter((d) => d.state === "verified").length;
  const failed = data.drills.filter((d) => d.state === "failed").length;
  return (
    <p data-testid="drill-status" className="text-xs text-slate-600">
      <span className="font-medium text-slate-700">Restore drills</span>
      {" · "}
      {data.enabled ? (
        <>
          {verified} verified{failed ? `, ${failed} failed` : ""}
          {data.running && (
            <>
              {" · "}verifying <span className="font-mono">{data.running}</span>
            </>
          )}
          {data.queued > 0 && ` · ${data.queued} queued`}
          {data.note && <span className="text-amber-800"> · {data.note}</span>}
          {" · "}new sets are verified automatically (the newest 7 on first sight of a store); use Verify now on a set&apos;s page for older ones.
        </>
      ) : (
        <span className="text-amber-800">{data.note}</span>
      )}
    </p>
  );
}
