import { NextResponse } from "next/server";
import { apiRoute, readJson } from "@/lib/http/api-route";
import { CreateUserRequest, type UserList } from "@/lib/contracts/auth";
import { authService } from "@/lib/auth";
import { addUser, users } from "@/lib/auth/accounts";

export const dynamic = "force-dynamic";

/** GET /api/users → UserList. */
export const GET = apiRoute({ access: "admin" }, async () => {
  const body: UserList = { users: users(authService()) };
  return NextResponse.json(body);
});

/** POST /api/users `{ name, role, password }` → 201 UserView; 409 when the name is taken. */
export const POST = apiRoute({ access: "admin" }, async (req) => {
  const body = await readJson(req, CreateUserRequest);
  return NextResponse.json(await addUser(authService(), body), { status: 201 });
});
