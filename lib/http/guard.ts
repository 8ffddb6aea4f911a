import "server-only";
import { roleAllows, type Access } from "../contracts/auth";
import { DomainError } from "../contracts/errors";
import { audit } from "../db/database";
import { authService } from "../auth";
import { hostAllowed, type AuthConfig } from "../auth/config";
import { authenticate, clientAddress, isProxyUserWithoutRole, type Principal } from "../auth/principal";
import { runAs, type Actor } from "../auth/request-context";
import { singleton } from "../server/context";

/**
 * The one check every API request passes before its handler (apiRoute calls it), in this order:
 *   1. the Host is one the dashboard answers to (else 421: DNS rebinding);
 *   2. a declared body of at most 1 MiB (else 413, before reading a byte of it);
 *   3. who is calling (lib/auth/principal.ts: token, trusted proxy header, or session cookie); nobody
 *      on a route that is not public: 401;
 *   4. a state-changing request not sent with a bearer token comes from this dashboard's own pages:
 *      a same-origin `Origin` (or `Sec-Fetch-Site: same-origin`), no `Sec-Fetch-Site` saying
 *      otherwise, and a JSON content type, which no
 *      form and no "simple" cross-site fetch can send (else 403 / 415);
 *   5. the caller's role allows the route's declared access (else 403).
 * A route cannot opt out except by declaring `public` — which app/api/access.test.ts allows only
 * for the routes that are public by design.
 */

/** The largest request body any route reads. */
export const MAX_BODY_BYTES = 1024 * 1024;

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** True for methods that may change something (every method but GET, HEAD and OPTIONS). */
export function isStateChanging(method: string): boolean {
  return !SAFE_METHODS.has(method.toUpperCase());
}

/** The Host the request was sent to: its header, else (a Request made in a test) its URL's. */
export function requestHost(req: Pick<Request, "headers" | "url">): string {
  return req.headers.get("host") ?? new URL(req.url).host;
}

/** Throws `misdirected_request` (421) unless the request's Host is one the dashboard answers to. */
export function checkHost(req: Pick<Request, "headers" | "url">, cfg: Pick<AuthConfig, "allowedHosts">): void {
  const host = requestHost(req);
  if (hostAllowed(cfg, host)) return;
  const name = host.replace(/:\d+$/, "");
  throw new DomainError(
    "misdirected_request",
    `This dashboard does not answer to the host name "${name.slice(0, 100)}". If that is how people reach it, set LIFEBOAT_PUBLIC_URL to its URL (or add the name to LIFEBOAT_ALLOWED_HOSTS) and restart it.`,
  );
}

/** Throws `body_too_large` (413) when the request declares a body over MAX_BODY_BYTES. */
export function checkDeclaredLength(headers: Headers): void {
  const declared = Number(headers.get("content-length") ?? 0);
  if (declared > MAX_BODY_BYTES) throw tooLarge();
}

export function tooLarge(): DomainError {
  return new DomainError(
    "body_too_large",
    `The request body is over ${MAX_BODY_BYTES / 1024 / 1024} MiB; the dashboard reads no more than that. Nothing changed.`,
  );
}

/** Throws unless a state-changing request comes from this dashboard's own pages (step 4 above). */
export function checkSameOrigin(req: Pick<Request, "headers" | "url">, cfg: Pick<AuthConfig, "publicOrigin">): void {
  const headers = req.headers;
  const origin = headers.get("origin");
  const host = requestHost(req).toLowerCase();
  let sameOrigin: boolean;
  if (origin && origin !== "null") {
    let url: URL | null = null;
    try {
      url = new URL(origin);
    } catch {
      // malformed: not same-origin
    }
    sameOrigin = !!url && (url.host.toLowerCase() === host || url.origin === cfg.publicOrigin);
  } else sameOrigin = !origin && headers.get("sec-fetch-site") === "same-origin";
  // A browser that says the request comes from another site (cross-site, same-site: a sibling host
  // under the same domain) is believed over an Origin that claims this one.
  const site = headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin") sameOrigin = false;
  if (!sameOrigin)
    throw new DomainError(
      "forbidden",
      "This request did not come from the dashboard's own pages (its Origin is another site's, or missing), so it was refused and nothing changed. Scripts use an API token (Authorization: Bearer).",
    );
  if (!/^application\/json(\s*;|$)/i.test(headers.get("content-type") ?? ""))
    throw new DomainError("unsupported_media_type", "Requests that change something are sent as JSON (Content-Type: application/json). Nothing changed.");
}

// A token used by a script every few seconds would flood the audit log: its use is recorded once an hour.
const TOKEN_USE_EVERY_MS = 60 * 60_000;
const tokenUses = () => singleton("auth.tokenUses", () => new Map<string, number>());

function noteTokenUse(principal: Principal, method: string, path: string): void {
  const seen = tokenUses().get(principal.tokenId!) ?? 0;
  if (Date.now() - seen < TOKEN_USE_EVERY_MS) return;
  tokenUses().set(principal.tokenId!, Date.now());
  audit(authService().db, "token.use", principal.name, "ok", { method, path });
}

export interface Guarded {
  principal: Principal | null;
  actor: Actor;
}

/** Runs checks 1–5 for `req` and a route's `access`. Throws the DomainError to answer with. */
export function guardRequest(req: Request, access: Access): Guarded {
  const auth = authService();
  checkHost(req, auth.cfg);
  checkDeclaredLength(req.headers);
  const address = clientAddress(req.headers, auth.cfg);
  let principal: Principal | null;
  try {
    principal = authenticate(req.headers, auth.db, auth.cfg);
  } catch (err) {
    // A proxy user without a role may still sign in with one of the dashboard's own accounts.
    if (access !== "public" || !isProxyUserWithoutRole(err)) throw err;
    principal = null;
  }
  const actor: Actor = principal
    ? { name: principal.name, role: principal.role, kind: principal.kind, address }
    : { name: "anonymous", role: null, kind: "anonymous", address };
  if (access !== "public" && !principal) throw new DomainError("unauthorized", "Sign in first (or send an API token: Authorization: Bearer <token>).");
  if (isStateChanging(req.method) && principal?.kind !== "token") checkSameOrigin(req, auth.cfg);
  if (access !== "public" && !roleAllows(principal!.role, access))
    throw new DomainError("forbidden", `Your role, ${principal!.role}, may not do this: it needs ${access}. Ask an admin for a role that may.`, {
      details: { role: principal!.role, needs: access },
    });
  if (principal?.kind === "token") runAs(actor, () => noteTokenUse(principal, req.method, new URL(req.url).pathname));
  return { principal, actor };
}
