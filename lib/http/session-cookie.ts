import "server-only";
import type { AuthConfig } from "../auth/config";
import { sessionCookieName } from "../auth/principal";

/**
 * The session cookie's Set-Cookie value: HttpOnly (no script reads it), SameSite=Lax (not sent on
 * cross-site form posts or fetches), Secure with the `__Host-` prefix when the public URL is https,
 * and gone from the browser when the session's absolute end comes. `id` null clears it.
 */
export function sessionCookie(cfg: Pick<AuthConfig, "secureCookies">, id: string | null, expiresAt?: number): string {
  const parts = [`${sessionCookieName(cfg)}=${id ?? ""}`, "Path=/", "HttpOnly", "SameSite=Lax"];
  if (cfg.secureCookies) parts.push("Secure");
  const maxAge = id && expiresAt ? Math.max(0, Math.floor((expiresAt - Date.now()) / 1000)) : 0;
  parts.push(`Max-Age=${maxAge}`);
  return parts.join("; ");
}
