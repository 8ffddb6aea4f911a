import "server-only";
import { headers } from "next/headers";
import type { Me } from "../contracts/auth";
import { authService } from "./index";
import { authenticate } from "./principal";

/**
 * The signed-in caller of the page being rendered, for the layout's navigation and role-aware UI.
 * The page guard (proxy.ts) has already refused requests without one; null only on the sign-in page.
 */
export async function pageMe(): Promise<Me | null> {
  const auth = authService();
  let p;
  try {
    p = authenticate(await headers(), auth.db, auth.cfg);
  } catch {
    return null;
  }
  return p ? { name: p.name, role: p.role, kind: p.kind, expiresAt: p.expiresAt ? new Date(p.expiresAt).toISOString() : null } : null;
}
