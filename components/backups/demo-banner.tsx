import { Banner } from "@/components/ui/banner";

/** Shown when the launcher started the embedded demo store: what this data is, and how to see your own. */
export function DemoBanner() {
  return (
    <Banner tone="info" title="Demo data">
      <p>
        These are 90 nights of real, encrypted backups in an embedded S3 store, made the way the incident&apos;s CronJob makes them and scaled down: one night
        was missed, and the last three show the growth that came before the crash. A demo agent runs against a demo k3s server directory.
      </p>
      <p className="mt-1">
        To watch your own backups, restart with the CronJob&apos;s variables: <code className="font-mono">AWS_S3_ENDPOINT</code>,{" "}
        <code className="font-mono">AWS_S3_BUCKET</code>, <code className="font-mono">AWS_S3_PATH</code>, <code className="font-mono">AWS_ACCESS_KEY_ID</code>,{" "}
        <code className="font-mono">AWS_SECRET_ACCESS_KEY</code> (README, “Dashboard configuration”).
      </p>
    </Banner>
  );
}
