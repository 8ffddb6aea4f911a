import { NextResponse } from "next/server";
import { apiRoute, type Params } from "@/lib/http/api-route";
import { requireAgent } from "@/lib/agent/configured";
import { singleton } from "@/lib/server/context";
import { catalogService } from "@/lib/catalog";
import { logger } from "@/lib/log";
import { alertsAfterAgentJob } from "@/lib/alerts";

export const dynamic = "force-dynamic";

const log = logger("agent-jobs");
// Backup jobs whose success already triggered a catalog refresh (polling asks again and again).
const refreshed = singleton("agent.refreshedBackupJobs", () => new Set<string>());

/**
 * GET /api/agent/jobs/:id — the agent's job (steps, bytes done/total, error). When a backup job has
 * just succeeded, the catalog is refreshed before answering, so the new set is in the history as soon
 * as the page sees "succeeded". A finished backup job also has the alerts look again (LifeboatBackupJobFailed).
 */
export const GET = apiRoute<Params<{ id: string }>>({ access: "viewer" }, async (_req, { params }) => {
  const { id } = await params;
  const job = await requireAgent("the dashboard cannot follow a backup").job(id);
  if (job.type === "backup" && job.state === "succeeded" && !refreshed.has(job.id)) {
    refreshed.add(job.id);
    const outcome = await catalogService()
      .refresh()
      .catch((err: unknown) => {
        log.warn({ err: (err as Error).message, jobId: job.id }, "catalog refresh after backup failed");
        return null;
      });
    if (outcome && !outcome.ok) log.warn({ jobId: job.id }, "catalog refresh after backup did not succeed; the banner shows why");
  }
  alertsAfterAgentJob(job);
  return NextResponse.json(job);
});
