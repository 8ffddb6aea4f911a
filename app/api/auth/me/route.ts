import { NextResponse } from "next/server";
import { apiRoute } from "@/lib/http/api-route";
import type { Me } from "@/lib/contracts/auth";

export const dynamic = "force-dynamic";

/** GET /api/auth/me → Me: the caller's name, role and how they are signed in. */
export const GET = apiRoute({ access: "viewer" }, async (_req, _ctx, who) => {
  const p = who.principal!;
  const me: Me = { name: p.name, role: p.role, kind: p.kind, expiresAt: p.expiresAt ? new Date(p.expiresAt).toISOString() : null };
  return NextResponse.json(me, { headers: { "cache-control": "no-store" } });
});
