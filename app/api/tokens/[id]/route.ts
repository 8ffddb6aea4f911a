import { NextResponse } from "next/server";
import { apiRoute, type Params } from "@/lib/http/api-route";
import { authService } from "@/lib/auth";
import { withdrawToken } from "@/lib/auth/accounts";

export const dynamic = "force-dynamic";

/** DELETE /api/tokens/:id → `{ ok }`: revokes the token at once. */
export const DELETE = apiRoute<Params<{ id: string }>>({ access: "admin" }, async (_req, { params }) => {
  const { id } = await params;
  withdrawToken(authService(), id);
  return NextResponse.json({ ok: true });
});
