/**
 * Next.js calls register() once when the server starts. Alerts must be evaluated and the agent
 * polled with no page open (that is the point of telling someone), so they start here; so does the
 * metrics registry, which counts catalog refreshes from the first one.
 */
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const [{ startAlerts }, { startMetrics }] = await Promise.all([import("./lib/alerts"), import("./lib/metrics")]);
  startAlerts();
  startMetrics();
}
