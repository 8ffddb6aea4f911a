import { NextResponse } from "next/server";
import { apiRoute, readJson, type Params } from "@/lib/http/api-route";
import { UpdateUserRequest } from "@/lib/contracts/auth";
import { authService } from "@/lib/auth";
import { removeUser, updateUser } from "@/lib/auth/accounts";

export const dynamic = "force-dynamic";

/** PATCH /api/users/:name `{ role?, password? }` → UserView. A new password ends the user's sessions; the last admin keeps its role. */
export const PATCH = apiRoute<Params<{ name: string }>>({ access: "admin" }, async (req, { params }) => {
  const { name } = await params;
  const body = await readJson(req, UpdateUserRequest);
  return NextResponse.json(await updateUser(authService(), name, body));
});

/** DELETE /api/users/:name → `{ ok }`; 409 for the last admin or one's own account. */
export const DELETE = apiRoute<Params<{ name: string }>>({ access: "admin" }, async (_req, { params }, who) => {
  const { name } = await params;
  removeUser(authService(), who.principal!, name);
  return NextResponse.json({ ok: true });
});
