import { NextResponse } from "next/server";
import { apiRoute } from "@/lib/http/api-route";
import { requireAgent } from "@/lib/agent/configured";
import { getEnv } from "@/lib/env";
import { thresholdsFromEnv } from "@/lib/catalog/config";
import { flagLogDays } from "@/lib/backups/log-anomalies";

export const dynamic = "force-dynamic";

/**
 * GET /api/agent/continuous — the agent's continuous-protection line (`ContinuousStatus`): protected up to N s ago, generation, segments, bytes.
 * The daily bytes' flags are judged again with the dashboard's LIFEBOAT_GROWTH_* / LIFEBOAT_SHRINK_CRITICAL, as the backups' flags and the
 * LifeboatLogGrowth/Shrink alerts are, so the page and the alerts agree. Throws ConfigError when those thresholds contradict each other.
 */
export const GET = apiRoute({ access: "viewer" }, async () => {
  const status = await requireAgent("the dashboard cannot show continuous protection").continuous();
  const dailyAnomalies = status.enabled ? flagLogDays(status.dailyBytes, thresholdsFromEnv(getEnv())).current : status.dailyAnomalies;
  return NextResponse.json({ ...status, dailyAnomalies });
});
