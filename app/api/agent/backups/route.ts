import { NextResponse } from "next/server";
import { handle } from "@/lib/http/api";
import { agentErrorToApi, agentForRequest } from "../_lib/agent-for-request";

export const dynamic = "force-dynamic";

/**
 * POST /api/agent/backups — asks the agent for a backup now. 202 `{ jobId, alreadyRunning }`; when a
 * backup is already running, its job id comes back with `alreadyRunning: true` so the page follows it.
 */
export const POST = handle(async () => {
  const agent = agentForRequest();
  try {
    const started = await agent.startBackup({});
    return NextResponse.json(started, { status: 202 });
  } catch (err) {
    throw agentErrorToApi(err);
  }
});
