import { NextResponse } from "next/server";
import { apiRoute, readJson } from "@/lib/http/api-route";
import { CreateTokenRequest, type CreatedToken, type TokenList } from "@/lib/contracts/auth";
import { authService } from "@/lib/auth";
import { listTokens } from "@/lib/auth/api-tokens";
import { issueToken } from "@/lib/auth/accounts";

export const dynamic = "force-dynamic";

/** GET /api/tokens → TokenList (names, roles, last use; never a token). */
export const GET = apiRoute({ access: "admin" }, async () => {
  const auth = authService();
  const body: TokenList = { tokens: listTokens(auth.db, auth.cfg.fileTokens) };
  return NextResponse.json(body);
});

/** POST /api/tokens `{ name, role }` → 201 CreatedToken: the token, in this answer only. */
export const POST = apiRoute({ access: "admin" }, async (req, _ctx, who) => {
  const body = await readJson(req, CreateTokenRequest);
  const created: CreatedToken = issueToken(authService(), who.principal!, body);
  return NextResponse.json(created, { status: 201, headers: { "cache-control": "no-store" } });
});
