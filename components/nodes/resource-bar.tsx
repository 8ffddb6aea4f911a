/** Requested vs allocatable, as a thin bar with the numbers. */
export function ResourceBar({ used, total, label, text }: { used: number; total: number; label: string; text: string }) {
  const pct = total > 0 ? Math.min(100, Math.round((used / total) * 100)) : 0;
  const tone = pct >= 90 ? "bg-red-600" : pct >= 75 ? "bg-amber-500" : "bg-blue-600";
  return (
    <div className="min-w-28" title={`${label}: ${pct}% of allocatable requested`}>
      <div className="flex justify-between gap-2 text-xs tabular-nums text-slate-700">
        <span>{text}</span>
        <span className="text-slate-500">{pct}%</span>
      </div>
      <div
        role="meter"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct}
        className="mt-1 h-1.5 w-full overflow-hidden rounded-full bg-slate-200"
      >
        <div className={`h-full rounded-full ${tone}`} style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}
