import type { NextRequest } from "next/server";
import { guardPage } from "@/lib/http/page-guard";

/**
 * Next.js 16's request proxy (formerly middleware; it runs on Node.js in this process). Every page
 * goes through the page guard: signed in, the right role, the right Host, a CSP nonce. API routes
 * are guarded by apiRoute instead (lib/http/guard.ts) and are left out here, so their bodies are
 * streamed to the handler, not buffered for the proxy; static assets need no sign-in.
 */
export function proxy(req: NextRequest) {
  return guardPage(req);
}

export const config = {
  matcher: ["/((?!api/|_next/static/|_next/image|favicon.ico).*)"],
};
