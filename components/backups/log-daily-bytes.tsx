import { Badge } from "@/components/ui/badge";
import { formatBytes, formatNumber } from "@/components/ui/format";
import type { LogDay, LogDayAnomaly } from "@/lib/contracts/continuous";

const BAR_W = 6;
const GAP = 2;
const H = 24;

const STATE_WORDS: Record<LogDay["state"], string> = {
  ended: "",
  "in-progress": " so far (the day is not over)",
  "generation-start": " (the generation began that day: partial, not judged)",
};

function barClass(day: LogDay, flag: LogDayAnomaly | undefined): string {
  if (flag) return flag.level === "critical" ? "fill-red-500" : "fill-amber-500";
  if (day.state === "ended") return "fill-slate-400";
  return "fill-slate-300";
}

/**
 * The log's bytes per UTC day under the protection line: a small bar per day (oldest left; a flagged
 * day in its level's colour, the day in progress and the generation's partial first day lighter), the
 * newest days in words, and each standing flag with its reason, as the backups' flags are shown.
 */
export function LogDailyBytes({ days, anomalies }: { days: readonly LogDay[]; anomalies: readonly LogDayAnomaly[] }) {
  if (!days.length) return null;
  const max = Math.max(1, ...days.map((d) => d.bytes));
  const flagOf = new Map(anomalies.map((a) => [a.day, a]));
  const today = days.at(-1)!.state === "in-progress" ? days.at(-1)! : null;
  const lastEnded = [...days].reverse().find((d) => d.state === "ended");
  return (
    <div data-testid="log-daily-bytes" className="mt-1 space-y-1 text-xs text-slate-600">
      <div className="flex items-end gap-2">
        <span>Log bytes per day</span>
        <svg
          width={days.length * (BAR_W + GAP)}
          height={H}
          role="img"
          aria-label={`The log's bytes per day over the last ${days.length} ${days.length === 1 ? "day" : "days"}`}
        >
          {days.map((d, i) => {
            const h = Math.max(1, Math.round((d.bytes / max) * H));
            return (
              <rect key={d.day} x={i * (BAR_W + GAP)} y={H - h} width={BAR_W} height={h} className={barClass(d, flagOf.get(d.day))}>
                <title>{`${d.day}: ${formatBytes(d.bytes)} in ${formatNumber(d.segments)} ${d.segments === 1 ? "segment" : "segments"}${STATE_WORDS[d.state]}`}</title>
              </rect>
            );
          })}
        </svg>
        <span>
          {lastEnded && (
            <>
              {formatBytes(lastEnded.bytes)} on {lastEnded.day}
            </>
          )}
          {lastEnded && today && " · "}
          {today && <>{formatBytes(today.bytes)} so far today</>}
          {!anomalies.length && lastEnded && <span className="text-slate-500"> · in line with the previous days</span>}
        </span>
      </div>
      {anomalies.length > 0 && (
        <ul className="space-y-1" data-testid="log-anomalies">
          {anomalies.map((a) => (
            <li key={`${a.day}-${a.type}`} className="flex items-start gap-2">
              <Badge tone={a.level === "critical" ? "critical" : "warning"}>
                {a.level === "critical" ? "Critical" : "Warning"} · {a.type === "growth" ? "Growth" : "Shrink"}
              </Badge>
              <span className="text-slate-700">{a.reason}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
