import "server-only";
import { NextResponse, type NextRequest } from "next/server";
import { localPath, pageAccess, roleAllows } from "../contracts/auth";
import { isDomainError } from "../contracts/errors";
import { authService } from "../auth";
import { authenticate, isProxyUserWithoutRole, type Principal } from "../auth/principal";
import { checkDeclaredLength, checkHost } from "./guard";
import { logger } from "../log";

/**
 * The page guard, run by proxy.ts for every request that is not an API call or a static asset:
 * the Host check (421) and declared body size (413) as the API guard does; no principal → the
 * sign-in page (with `next` to come back); a role below the page's PAGE_ACCESS → a page saying so;
 * and a fresh CSP nonce for every page (Next.js puts it on its own scripts).
 */

const LOGIN = "/login";
const log = logger("pages");

/** The Content-Security-Policy of a page with `nonce`. */
export function pagePolicy(nonce: string): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'`,
    // React sets style attributes through the DOM (allowed); Next.js may inline small style blocks.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

function plain(status: number, title: string, text: string): NextResponse {
  const html = `<!doctype html><meta charset="utf-8"><title>${title} · Lifeboat</title><body style="font-family:system-ui;max-width:40rem;margin:4rem auto;padding:0 1rem"><h1>${title}</h1><p>${text}</p>`;
  return new NextResponse(html, {
    status,
    headers: { "content-type": "text/html; charset=utf-8", "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'" },
  });
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** What proxy.ts answers for a page request. */
export function guardPage(req: NextRequest): NextResponse {
  const path = req.nextUrl.pathname;
  let principal: Principal | null;
  try {
    const auth = authService();
    checkHost(req, auth.cfg);
    checkDeclaredLength(req.headers);
    try {
      principal = authenticate(req.headers, auth.db, auth.cfg);
    } catch (err) {
      // A proxy user without a role may still sign in with one of the dashboard's own accounts.
      if (path !== LOGIN || !isProxyUserWithoutRole(err)) throw err;
      principal = null;
    }
  } catch (err) {
    if (isProxyUserWithoutRole(err))
      return plain(403, "No access", `${escape((err as Error).message)} <a href="${LOGIN}">Sign in with a Lifeboat account</a>.`);
    if (isDomainError(err)) return plain(err.status, err.status === 403 ? "No access" : "Refused", escape(err.message));
    log.error({ err }, "page guard failed");
    return plain(500, "Internal error", "The dashboard could not check who you are; see its log.");
  }
  if (!principal && path !== LOGIN) {
    const to = new URL(LOGIN, req.url);
    if (path !== "/") to.searchParams.set("next", path + req.nextUrl.search);
    return NextResponse.redirect(to, 303);
  }
  if (principal && path === LOGIN) {
    // Only a path of this site: `next=//evil.example` or a full URL would be an open redirect.
    return NextResponse.redirect(new URL(localPath(req.nextUrl.searchParams.get("next")), req.url), 303);
  }
  if (principal && !roleAllows(principal.role, pageAccess(path)))
    return plain(
      403,
      "No access",
      `This page needs the ${pageAccess(path)} role; you are signed in as ${escape(principal.name)} with the ${principal.role} role. <a href="/">Back to the dashboard</a>.`,
    );
  const nonce = Buffer.from(crypto.getRandomValues(new Uint8Array(18))).toString("base64");
  const policy = pagePolicy(nonce);
  const headers = new Headers(req.headers);
  headers.set("content-security-policy", policy);
  const res = NextResponse.next({ request: { headers } });
  res.headers.set("content-security-policy", policy);
  return res;
}
