import { apiRoute } from "@/lib/http/api-route";
import { dashboardMetrics } from "@/lib/metrics";

export const dynamic = "force-dynamic";

/**
 * GET /api/metrics — the dashboard's Prometheus metrics (text format): per kind the newest backup's
 * time, size and flag, the newest drill's state, the catalog's refreshes, the agent as the dashboard
 * sees it, and every alert's state. Names and rules: docs/alerts.md, deploy/prometheus/.
 */
export const GET = apiRoute({ access: "viewer" }, async () => {
  const registry = dashboardMetrics();
  return new Response(await registry.metrics(), { headers: { "content-type": registry.contentType, "cache-control": "no-store" } });
});
