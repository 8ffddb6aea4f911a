import { Badge } from "@/components/ui/badge";
import { formatTime } from "@/components/ui/format";
import type { Verification } from "@/lib/contracts/catalog";
import { QUEUED_REASON } from "@/lib/restore/contracts";

/**
 * A set's restore-drill state: "verified <date>", "drill failed", "verifying…", "queued" or "not yet
 * verified". The reason is in the tooltip; `withReason` also prints a failure's reason under it.
 */
export function VerificationBadge({ verification, withReason = false }: { verification: Verification | undefined; withReason?: boolean }) {
  const v = verification ?? { state: "not-verified", at: null, reason: null };
  const queued = v.state === "not-verified" && v.reason === QUEUED_REASON;
  const badge =
    v.state === "verified" ? (
      <Badge tone="ok" title={v.reason ?? undefined}>
        <span aria-hidden>✓</span> verified{v.at ? ` ${formatTime(v.at).slice(0, 10)}` : ""}
      </Badge>
    ) : v.state === "failed" ? (
      <Badge tone="critical" title={v.reason ?? undefined}>
        <span aria-hidden>✕</span> drill failed
      </Badge>
    ) : v.state === "running" ? (
      <Badge tone="info" title="A restore drill of this set is running on the agent.">
        <span aria-hidden className="inline-block h-2 w-2 animate-pulse rounded-full bg-blue-500" /> verifying…
      </Badge>
    ) : queued ? (
      <Badge tone="neutral" title={QUEUED_REASON}>
        queued
      </Badge>
    ) : (
      <Badge tone="neutral" title="No restore drill has run on this set yet.">
        not yet verified
      </Badge>
    );
  return (
    <span data-testid="verification" data-state={queued ? "queued" : v.state} className="inline-flex flex-col items-start gap-1">
      {badge}
      {withReason && v.state === "failed" && v.reason && <span className="max-w-md text-xs text-red-800">{v.reason}</span>}
    </span>
  );
}
