import { NextResponse } from "next/server";
import { z } from "zod";
import { apiRoute, readQuery } from "@/lib/http/api-route";
import { queryInt } from "@/lib/contracts/query";
import { readAudit } from "@/lib/db/database";
import { serverContext } from "@/lib/server/context";
import type { AuditResponse } from "@/lib/contracts/nodes";

export const dynamic = "force-dynamic";

const Query = z.object({
  prefix: z.string().max(100).optional(),
  limit: queryInt(1, 1000).default(200),
  before: queryInt(1, Number.MAX_SAFE_INTEGER).optional(),
});

/** GET /api/audit[?prefix=node.&limit=200&before=<id>] → AuditResponse, newest first (`before`: entries older than that one). */
export const GET = apiRoute({ access: "viewer" }, async (req) => {
  const q = readQuery(req, Query);
  const body: AuditResponse = { entries: readAudit(serverContext().db, { limit: q.limit, actionPrefix: q.prefix || undefined, beforeId: q.before }) };
  return NextResponse.json(body);
});
