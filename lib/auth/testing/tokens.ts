import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { ROLES, type Role } from "../../contracts/auth";

/**
 * One API token per role in a LIFEBOAT_API_TOKENS_FILE, for tests that call route handlers as a
 * viewer, an operator or an admin. Set `env` before the dashboard's environment is first read.
 */
export function writeRoleTokens(dir: string): { file: string; tokens: Record<Role, string>; env: Record<string, string> } {
  const tokens = Object.fromEntries(ROLES.map((r) => [r, `test-${r}-${randomBytes(24).toString("base64url")}`])) as Record<Role, string>;
  const file = path.join(dir, "api-tokens");
  writeFileSync(file, ROLES.map((r) => `${r} ${tokens[r]}`).join("\n") + "\n", { mode: 0o600 });
  return { file, tokens, env: { LIFEBOAT_API_TOKENS_FILE: file } };
}

/** A request to the dashboard at 127.0.0.1 with `role`'s bearer token (none when null); a JSON body gets its content type. */
export function requestAs(tokens: Record<Role, string>, role: Role | null, pathAndQuery: string, init: RequestInit = {}): Request {
  const headers = new Headers(init.headers);
  if (role) headers.set("authorization", `Bearer ${tokens[role]}`);
  if (init.body !== undefined && !headers.has("content-type")) headers.set("content-type", "application/json");
  return new Request(`http://127.0.0.1${pathAndQuery}`, { ...init, headers });
}
