import { formatBytes, formatNumber, formatTime } from "@/components/ui/format";
import type { Verification } from "@/lib/contracts/catalog";
import type { DrillRecord } from "@/lib/restore/contracts";
import { VerificationBadge } from "@/components/ui/verification-badge";

/** A set's restore drill on its page: the badge, what the drill proved or why it failed, and when. */
export function DrillDetails({ verification, drill }: { verification: Verification | undefined; drill: DrillRecord | null }) {
  const d = drill?.detail;
  return (
    <div className="space-y-2 text-sm" data-testid="drill-details">
      <VerificationBadge verification={verification} />
      {drill?.reason && drill.state !== "queued" && <p className={drill.state === "failed" ? "text-red-800" : "text-slate-700"}>{drill.reason}</p>}
      {!drill && (
        <p className="text-slate-600">
          A restore drill downloads this set on the agent, decrypts and unpacks it, runs integrity_check and kine&apos;s checks, and proves the token opens its
          bootstrap data — without touching the server&apos;s files.
        </p>
      )}
      {d && (
        <dl className="grid grid-cols-[auto_1fr] gap-x-6 gap-y-1 text-slate-700">
          <dt className="text-slate-500">Restored from</dt>
          <dd className="wrap-anywhere">{d.sourceDescription}</dd>
          <dt className="text-slate-500">Read</dt>
          <dd>
            {formatBytes(d.bytesStaged)}
            {d.walReplayed ? " (a live copy's WAL was replayed)" : ""}
          </dd>
          {d.stats && (
            <>
              <dt className="text-slate-500">Database</dt>
              <dd>
                revision {formatNumber(d.stats.currentRevision)} · {formatNumber(d.stats.rowCount)} rows · {formatNumber(d.stats.liveKeys)} live keys ·
                compaction lag {formatNumber(d.stats.compactionLag)}
              </dd>
            </>
          )}
          <dt className="text-slate-500">Token</dt>
          <dd>
            {d.tokenSource === "archive" ? "from the backup" : d.tokenSource === "host" ? "the server's (the set holds none)" : "—"}
            {d.tokenFits === false ? ": does not fit" : d.tokenFits ? ": fits" : ""}
          </dd>
          {drill?.finishedAt && (
            <>
              <dt className="text-slate-500">Drill</dt>
              <dd>
                {formatTime(drill.finishedAt)} · {(d.millis / 1000).toFixed(1)} s · {drill.requestedBy === "user" ? "asked for" : "automatic"}
              </dd>
            </>
          )}
        </dl>
      )}
      {d && d.warnings.length > 0 && (
        <ul className="list-disc pl-5 text-amber-900">
          {d.warnings.map((w) => (
            <li key={w}>{w}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
