"use client";

import { useQuery } from "@tanstack/react-query";
import { formatBytes, formatNumber } from "@/components/ui/format";
import { continuousQuery } from "./queries";
import { LogDailyBytes } from "./log-daily-bytes";

/** Beyond three intervals behind, the line turns amber: the log is not keeping up (the store, or the agent). */
const LATE_INTERVALS = 3;

/**
 * One line above the history: continuous protection as the agent reports it ("protected up to 4 s
 * ago · generation … · 120 segments, 2.1 MB"), or why it is off; under it the log's bytes per day and
 * their flags (LogDailyBytes); "unknown" with the reason when the agent does not answer (not the
 * last good line, which would say protected while nothing is known). Nothing when no agent is configured.
 */
export function ProtectionLine() {
  const { data, error } = useQuery(continuousQuery());
  if (error)
    return (
      <p data-testid="protection-line" className="mb-2 text-xs text-slate-600">
        <span className="font-medium text-slate-700">Continuous protection</span>
        {" · "}
        <span className="text-amber-800">unknown: {error.message}</span>
      </p>
    );
  if (!data) return null;
  const late = data.lagSeconds !== null && data.lagSeconds > LATE_INTERVALS * Math.max(1, data.intervalSeconds);
  return (
    <div className="mb-2">
      <p data-testid="protection-line" className="text-xs text-slate-600">
        <span className="font-medium text-slate-700">Continuous protection</span>
        {" · "}
        {data.enabled && data.lagSeconds !== null ? (
          <>
            <span className={late ? "font-medium text-amber-800" : "font-medium text-emerald-800"}>protected up to {Math.round(data.lagSeconds)} s ago</span>
            {data.shippedRevision !== null && <> (revision {formatNumber(data.shippedRevision)})</>}
            {" · "}generation <span className="font-mono">{data.generation}</span>
            {" · "}
            {formatNumber(data.segments)} {data.segments === 1 ? "segment" : "segments"}, {formatBytes(data.bytes)}
            {data.pendingSegments > 0 && <span className="text-amber-800"> · {data.pendingSegments} waiting to upload</span>}
            {data.generationReason && <span className="text-slate-500"> · began because {data.generationReason}</span>}
            {data.problem && <span className="text-amber-800"> · {data.problem}</span>}
          </>
        ) : (
          <span className="text-amber-800">{data.problem ?? "not shipping yet"}</span>
        )}
      </p>
      {data.enabled && <LogDailyBytes days={data.dailyBytes} anomalies={data.dailyAnomalies} />}
    </div>
  );
}
