import { NextResponse } from "next/server";
import { apiRoute, readJson } from "@/lib/http/api-route";
import { ChangePasswordRequest } from "@/lib/contracts/auth";
import { authService } from "@/lib/auth";
import { changeOwnPassword } from "@/lib/auth/accounts";

export const dynamic = "force-dynamic";

/** POST /api/auth/password `{ current, next }` → `{ ok }`: the caller's own password; their other sessions end. */
export const POST = apiRoute({ access: "viewer" }, async (req, _ctx, who) => {
  const body = await readJson(req, ChangePasswordRequest);
  await changeOwnPassword(authService(), who.principal!, body);
  return NextResponse.json({ ok: true });
});
