/**
 * Next.js calls register() once when the server starts. Alerts must be evaluated and the agent
 * polled with no page open (that is the point of telling someone), so they start here; so does the
 * metrics registry, which counts catalog refreshes from the first one; and so do the restore drills
 * and the wizard's watcher, which follows a confirmed restore to its end after a dashboard restart.
 * Before, those two waited for someone to open a page.
 */
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const [{ startAlerts }, { startMetrics }, { startRestoreBackground }] = await Promise.all([
    import("./lib/alerts"),
    import("./lib/metrics"),
    import("./lib/restore"),
  ]);
  startAlerts();
  startMetrics();
  try {
    startRestoreBackground();
  } catch (err) {
    // Pages and routes start it again (it is idempotent) and show what is wrong.
    const { logger } = await import("./lib/log");
    logger("restore").error({ err: (err as Error).message }, "the restore drills could not start");
  }
}
