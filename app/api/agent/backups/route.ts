import { NextResponse } from "next/server";
import { apiRoute } from "@/lib/http/api-route";
import { requireAgent } from "@/lib/agent/configured";
import { audit } from "@/lib/db/database";
import { serverContext } from "@/lib/server/context";

export const dynamic = "force-dynamic";

/**
 * POST /api/agent/backups — asks the agent for a backup now. 202 `{ jobId, alreadyRunning }`; when a
 * backup is already running, its job id comes back with `alreadyRunning: true` so the page follows it.
 */
export const POST = apiRoute({ access: "operator" }, async () => {
  const agent = requireAgent("the dashboard cannot start a backup");
  const started = await agent.startBackup({});
  audit(serverContext().db, "backup.start", agent.baseUrl, started.alreadyRunning ? "already running" : "started", { jobId: started.jobId });
  return NextResponse.json(started, { status: 202 });
});
