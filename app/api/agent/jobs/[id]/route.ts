import { NextResponse } from "next/server";
import { handle } from "@/lib/http/api";
import { singleton } from "@/lib/server/context";
import { catalogForRequest } from "@/lib/catalog/http";
import { logger } from "@/lib/log";
import { agentErrorToApi, agentForRequest } from "../../_lib/agent-for-request";

export const dynamic = "force-dynamic";

const log = logger("agent-jobs");
// Backup jobs whose success already triggered a catalog refresh (polling asks again and again).
const refreshed = singleton("agent.refreshedBackupJobs", () => new Set<string>());

/**
 * GET /api/agent/jobs/:id — the agent's job (steps, bytes done/total, error). When a backup job has
 * just succeeded, the catalog is refreshed before answering, so the new set is in the history as soon
 * as the page sees "succeeded".
 */
export const GET = handle(async (_req: Request, ctx: { params: Promise<{ id: string }> }) => {
  const { id } = await ctx.params;
  const agent = agentForRequest();
  let job;
  try {
    job = await agent.job(id);
  } catch (err) {
    throw agentErrorToApi(err);
  }
  if (job.type === "backup" && job.state === "succeeded" && !refreshed.has(job.id)) {
    refreshed.add(job.id);
    const outcome = await catalogForRequest()
      .refresh()
      .catch((err: unknown) => {
        log.warn({ err: (err as Error).message, jobId: job.id }, "catalog refresh after backup failed");
        return null;
      });
    if (outcome && !outcome.ok) log.warn({ jobId: job.id }, "catalog refresh after backup did not succeed; the banner shows why");
  }
  return NextResponse.json(job);
});
