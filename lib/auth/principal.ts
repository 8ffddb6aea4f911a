import "server-only";
import { isIP } from "node:net";
import { DomainError, hasErrorCode } from "../contracts/errors";
import { ROLES, type Role } from "../contracts/auth";
import type { Db } from "../db/database";
import { lookupToken } from "./api-tokens";
import { isTrustedProxy, plainAddress, type AuthConfig } from "./config";
import { lookupSession } from "./sessions";
import { PEER_HEADER, PEER_MARK } from "../http/peer";

/**
 * Who sent a request: an API token (`Authorization: Bearer`), a user header from a trusted reverse
 * proxy (LIFEBOAT_AUTH=proxy), or a password session cookie — checked in that order. One function
 * for the API guard (lib/http/guard.ts) and the page guard (proxy.ts).
 */

export interface Principal {
  name: string;
  role: Role;
  kind: "session" | "token" | "proxy";
  /** Sessions: the stored hash of the cookie's id, and when the session ends at the latest. */
  sessionIdHash?: string;
  userId?: number;
  expiresAt?: number;
  /** Tokens: the token's id (UI tokens) or `file-<n>`. */
  tokenId?: string;
}

/**
 * The address of the TCP peer (a browser, or a reverse proxy), or null when the server cannot tell:
 * lib/http/dashboard-server.ts writes it into PEER_HEADER and marks the process; under a bare
 * `next start` the header could come from anyone, so it is not believed.
 */
export function peerAddress(headers: Headers): string | null {
  if ((globalThis as Record<symbol, unknown>)[PEER_MARK] !== true) return null;
  const v = headers.get(PEER_HEADER);
  return v ? plainAddress(v) : null;
}

/**
 * The client's address: the peer's, or — when the peer is a trusted proxy — the nearest address in
 * X-Forwarded-For that is not itself a trusted proxy.
 */
export function clientAddress(headers: Headers, cfg: Pick<AuthConfig, "trustedProxies">): string | null {
  const peer = peerAddress(headers);
  if (!peer || !isTrustedProxy(cfg, peer)) return peer;
  const hops = (headers.get("x-forwarded-for") ?? "")
    .split(",")
    .map((s) => plainAddress(s))
    .filter((s) => isIP(s));
  for (let i = hops.length - 1; i >= 0; i--) if (!isTrustedProxy(cfg, hops[i])) return hops[i];
  return hops[0] ?? peer;
}

/**
 * The value of cookie `name` in a Cookie header, or null. A value that does not decode (a malformed
 * percent escape) is as if absent: cookies ignore ports, so another app on the same host name can
 * set one, and it must not stop anyone from signing in.
 */
export function readCookie(headers: Headers, name: string): string | null {
  for (const part of (headers.get("cookie") ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i <= 0 || part.slice(0, i).trim() !== name) continue;
    try {
      return decodeURIComponent(part.slice(i + 1).trim());
    } catch {
      // URIError: look on, as if this one were not there.
    }
  }
  return null;
}

/** The session cookie's name: `__Host-` prefixed (https only, this host only) when cookies are Secure. */
export function sessionCookieName(cfg: Pick<AuthConfig, "secureCookies">): string {
  return cfg.secureCookies ? "__Host-lifeboat-session" : "lifeboat-session";
}

/** The role a proxy user gets from their groups (the highest mapped), or the default role. */
export function roleFromGroups(cfg: AuthConfig["proxy"], groupsHeader: string | null): Role | null {
  const groups = (groupsHeader ?? "")
    .split(/[,|]/)
    .map((g) => g.trim())
    .filter(Boolean);
  let best = -1;
  for (const g of groups) {
    const role = cfg.groupRoles.get(g);
    if (role) best = Math.max(best, ROLES.indexOf(role));
  }
  return best >= 0 ? ROLES[best] : cfg.defaultRole;
}

/**
 * True for the `forbidden` of a trusted proxy's user none of whose groups gives a role. The guards
 * leave the sign-in page and route open to them: the dashboard's own accounts work beside the proxy.
 */
export function isProxyUserWithoutRole(err: unknown): boolean {
  return hasErrorCode(err, "forbidden") && err.details?.reason === "proxy_no_role";
}

/**
 * The request's principal, or null when it carries no credentials. Throws DomainError
 * `unauthorized` for a bearer token that matches nothing (or a Bearer header without one), and
 * `forbidden` for a proxy user in no group that maps to a role, unless the request also carries a
 * session of the dashboard's own accounts (then that session). A user header from an address that
 * is not a trusted proxy is ignored, and so is an Authorization header of another scheme than Bearer.
 */
export function authenticate(headers: Headers, db: Db, cfg: AuthConfig): Principal | null {
  const authorization = headers.get("authorization");
  // Only the Bearer scheme (any case: RFC 7235) is a token attempt. Another scheme — the Basic
  // credentials nginx's auth_basic passes upstream by default — is not meant for the dashboard: the
  // request is judged by its proxy header or cookie as if it had none.
  if (authorization && /^Bearer(\s|$)/i.test(authorization)) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    const token = m ? lookupToken(db, cfg.fileTokens, m[1]) : null;
    if (!token)
      throw new DomainError(
        "unauthorized",
        "The API token is not valid (revoked, mistyped, or not one of this dashboard's). Send Authorization: Bearer <token>.",
      );
    return { name: token.name, role: token.role, kind: "token", tokenId: token.id };
  }
  let roleless: string | null = null;
  if (cfg.mode === "proxy") {
    const user = headers.get(cfg.proxy.userHeader)?.trim();
    if (user && isTrustedProxy(cfg, peerAddress(headers))) {
      const role = roleFromGroups(cfg.proxy, headers.get(cfg.proxy.groupsHeader));
      if (role) return { name: user, role, kind: "proxy" };
      // The proxy's user gets nothing here, but one of the dashboard's own accounts may be signed in.
      roleless = user;
    }
  }
  const sid = readCookie(headers, sessionCookieName(cfg));
  if (sid) {
    const s = lookupSession(db, sid, { idleMs: cfg.sessionIdleMs, maxMs: cfg.sessionMaxMs });
    if (s) return { name: s.name, role: s.role, kind: "session", sessionIdHash: s.idHash, userId: s.userId, expiresAt: s.expiresAt };
  }
  if (roleless !== null)
    throw new DomainError(
      "forbidden",
      `You are signed in as ${roleless}, but none of your groups gives a Lifeboat role. Ask an admin to add one of them to LIFEBOAT_PROXY_ROLES, or sign in with a Lifeboat account at /login.`,
      { details: { reason: "proxy_no_role" } },
    );
  return null;
}
