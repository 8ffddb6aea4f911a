import { NextResponse } from "next/server";
import { apiRoute } from "@/lib/http/api-route";
import { authService } from "@/lib/auth";
import { signOut } from "@/lib/auth/accounts";
import { sessionCookie } from "@/lib/http/session-cookie";

export const dynamic = "force-dynamic";

/** POST /api/auth/logout → `{ ok }`: ends this session and clears its cookie. */
export const POST = apiRoute({ access: "viewer" }, async (_req, _ctx, who) => {
  const auth = authService();
  signOut(auth, who.principal!);
  return NextResponse.json({ ok: true }, { headers: { "set-cookie": sessionCookie(auth.cfg, null) } });
});
