import { NextResponse } from "next/server";
import { apiRoute, readJson } from "@/lib/http/api-route";
import { LoginRequest, type Me } from "@/lib/contracts/auth";
import { authService } from "@/lib/auth";
import { signIn } from "@/lib/auth/accounts";
import { sessionCookie } from "@/lib/http/session-cookie";

export const dynamic = "force-dynamic";

/**
 * POST /api/auth/login `{ name, password }` → Me and the session cookie. Public by design (it is how
 * one signs in), but still same-origin only. 401 with the same sentence whether or not the user
 * exists; 429 after too many failures for that name or from that address.
 */
export const POST = apiRoute({ access: "public" }, async (req) => {
  const body = await readJson(req, LoginRequest);
  const auth = authService();
  const s = await signIn(auth, body.name, body.password);
  const me: Me = { name: s.user.name, role: s.user.role as Me["role"], kind: "session", expiresAt: new Date(s.expiresAt).toISOString() };
  return NextResponse.json(me, { headers: { "set-cookie": sessionCookie(auth.cfg, s.id, s.expiresAt), "cache-control": "no-store" } });
});
