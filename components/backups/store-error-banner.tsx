import type { ReactNode } from "react";
import { Banner } from "@/components/ui/banner";
import { formatAge, formatTime } from "@/components/ui/format";
import type { CatalogStatus } from "@/lib/contracts/catalog";
import { RefreshButton } from "./refresh-button";
import { Allowed } from "@/components/layout/session";

const TITLES: Record<string, string> = {
  unreachable: "Cannot reach the backup store",
  auth: "The backup store refused the credentials",
  no_bucket: "The bucket does not exist",
  not_configured: "No backup store is configured",
  cache: "The dashboard could not save the listing",
  other: "Listing the backup store failed",
};

const ADVICE: Record<string, string> = {
  unreachable: "Check that the endpoint is up and reachable from this machine (AWS_S3_ENDPOINT), then refresh.",
  auth: "Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the CronJob's backup-secret has the right pair), then restart the dashboard.",
  no_bucket: "Check AWS_S3_BUCKET (and AWS_S3_ENDPOINT: the bucket may live on another server), then restart the dashboard.",
  not_configured: "Set AWS_S3_BUCKET (with AWS_S3_ENDPOINT for a non-AWS store), or run `npm start` without them for the demo.",
  cache: "lifeboat.db was locked by another process (a `npm run users` command, a copy of the file) or could not be written: refresh once it is free.",
  other: "Refresh to try again; the dashboard's log has the details.",
};

/**
 * The banner for a failed listing: endpoint, bucket and cause (never a credential), what to do, and
 * that the page still shows the last good listing.
 */
export function StoreErrorBanner({ status, now }: { status: CatalogStatus; now: Date }) {
  const err = status.error;
  if (!err) return null;
  const where = [
    status.endpoint && (
      <span key="e">
        Endpoint <code className="font-mono">{status.endpoint}</code>
      </span>
    ),
    status.bucket && (
      <span key="b">
        bucket <code className="font-mono">{status.bucket}</code>
        {status.prefix && (
          <>
            , prefix <code className="font-mono">{status.prefix}</code>
          </>
        )}
      </span>
    ),
  ].filter(Boolean);
  return (
    <div data-testid="store-error">
      <Banner
        tone="error"
        title={TITLES[err.failure] ?? TITLES.other}
        actions={
          status.configured ? (
            <Allowed access="operator">
              <RefreshButton />
            </Allowed>
          ) : undefined
        }
      >
        {where.length > 0 && <p>{where.reduce<ReactNode[]>((acc, el, i) => (i ? [...acc, " · ", el] : [el]), [])}</p>}
        <p className="mt-1">
          Cause: <span data-testid="store-error-cause">{err.message}</span> ({formatAge(err.at, now)})
        </p>
        <p className="mt-1">{ADVICE[err.failure] ?? ADVICE.other}</p>
        {status.configured && (
          <p className="mt-1 font-medium">
            {status.refreshedAt
              ? `Showing the last good listing, from ${formatTime(status.refreshedAt)} (${formatAge(status.refreshedAt, now)}).`
              : "No listing has succeeded yet, so there is nothing to show."}
          </p>
        )}
      </Banner>
    </div>
  );
}
