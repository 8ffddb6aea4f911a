import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { BlockList, isIP } from "node:net";
import { MIN_TOKEN_LENGTH, Role, ROLES, type Role as RoleT } from "../contracts/auth";

/**
 * The sign-in side of the dashboard's configuration, parsed once with the rest of the environment
 * (lib/env.ts) so `npm start` fails at start, naming the variable. No `server-only` here: the
 * launcher parses the same environment. Errors are plain Errors whose message names the variable;
 * lib/env.ts turns them into ConfigError.
 */

/** Where a first run writes the generated password of `admin` (0600, in the data dir), for `npm start` to print once. */
export const INITIAL_PASSWORD_FILE = "initial-admin-password";

export interface ProxyAuthConfig {
  /** Header carrying the signed-in user's name (lower-cased: Node's header names). */
  userHeader: string;
  groupsHeader: string;
  /** Group name → role; a user in several groups gets the highest. */
  groupRoles: Map<string, RoleT>;
  /** Role of a user in none of the mapped groups; null: such a user is refused. */
  defaultRole: RoleT | null;
}

/** A token from LIFEBOAT_API_TOKENS_FILE: only its hash is kept. */
export interface FileToken {
  role: RoleT;
  /** sha256 hex of the token. */
  hash: string;
  /** Its name in the audit log and the tokens page: where it comes from, never any of its characters. */
  name: string;
  /** `npm start`'s own token for its run is not listed on the tokens page (nobody can revoke it there). */
  listed: boolean;
}

export interface AuthConfig {
  mode: "local" | "proxy";
  /** Host names (lower case, no port) the dashboard answers to; empty: see `hostAllowed`. */
  allowedHosts: string[];
  /** The public URL's origin when LIFEBOAT_PUBLIC_URL is set. */
  publicOrigin: string | null;
  /** Cookies get `Secure` (and the `__Host-` prefix) when the public URL is https. */
  secureCookies: boolean;
  trustedProxies: BlockList;
  trustedProxyList: string[];
  proxy: ProxyAuthConfig;
  sessionIdleMs: number;
  sessionMaxMs: number;
  fileTokens: FileToken[];
  adminPasswordFile: string | null;
}

/** The variables this module reads (they are declared in lib/env.ts's schema). */
export interface AuthEnv {
  LIFEBOAT_AUTH: "local" | "proxy";
  LIFEBOAT_PUBLIC_URL?: string;
  LIFEBOAT_ALLOWED_HOSTS?: string;
  LIFEBOAT_TRUSTED_PROXIES?: string;
  LIFEBOAT_PROXY_USER_HEADER: string;
  LIFEBOAT_PROXY_GROUPS_HEADER: string;
  LIFEBOAT_PROXY_ROLES?: string;
  LIFEBOAT_PROXY_DEFAULT_ROLE?: string;
  LIFEBOAT_SESSION_IDLE_SECONDS: number;
  LIFEBOAT_SESSION_MAX_SECONDS: number;
  LIFEBOAT_API_TOKENS_FILE?: string;
  LIFEBOAT_ADMIN_PASSWORD_FILE?: string;
  LIFEBOAT_LAUNCHER_TOKEN?: string;
}

/** sha256 hex of a token or session id: what the database and memory keep instead of the secret. */
export function secretHash(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** An address as Node reports it, without the IPv4-mapped IPv6 prefix (`::ffff:10.0.0.1` → `10.0.0.1`). */
export function plainAddress(address: string): string {
  const a = address.trim();
  return a.toLowerCase().startsWith("::ffff:") && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
}

/** True when `address` is one of the trusted proxies. */
export function isTrustedProxy(cfg: Pick<AuthConfig, "trustedProxies">, address: string | null): boolean {
  if (!address) return false;
  const a = plainAddress(address);
  const family = isIP(a);
  if (!family) return false;
  return cfg.trustedProxies.check(a, family === 4 ? "ipv4" : "ipv6");
}

function parseTrustedProxies(text: string | undefined): { list: BlockList; entries: string[] } {
  const list = new BlockList();
  const entries = (text ?? "")
    .split(/[,\s]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  for (const entry of entries) {
    const [addr, bits] = entry.split("/");
    const family = isIP(addr);
    const max = family === 4 ? 32 : 128;
    if (!family || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max)))
      throw new Error(`LIFEBOAT_TRUSTED_PROXIES: "${entry}" is not an IP address or a CIDR range (e.g. 10.0.0.5, 192.168.1.0/24, ::1)`);
    const type = family === 4 ? "ipv4" : "ipv6";
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return { list, entries };
}

function parseGroupRoles(text: string | undefined): Map<string, RoleT> {
  const map = new Map<string, RoleT>();
  for (const pair of (text ?? "").split(",").map((s) => s.trim())) {
    if (!pair) continue;
    const m = /^(.+?)\s*[=:]\s*(\w+)$/.exec(pair);
    const role = m ? Role.safeParse(m[2].toLowerCase()) : null;
    if (!m || !role?.success) throw new Error(`LIFEBOAT_PROXY_ROLES: "${pair}" is not group=role (roles: ${ROLES.join(", ")}), e.g. lifeboat-admins=admin`);
    map.set(m[1], role.data);
  }
  return map;
}

/** Reads LIFEBOAT_API_TOKENS_FILE: `<role> <token>` per line, `#` comments. Throws naming the line, never the token. */
export function readTokensFile(file: string): FileToken[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`LIFEBOAT_API_TOKENS_FILE: cannot read ${file} (${(e as NodeJS.ErrnoException).code})`);
  }
  const out: FileToken[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const [roleText, token, ...rest] = line.split(/\s+/);
    const role = Role.safeParse(roleText?.toLowerCase());
    if (!role.success || !token || rest.length)
      throw new Error(`LIFEBOAT_API_TOKENS_FILE: line ${i + 1} of ${file} is not "<role> <token>" (roles: ${ROLES.join(", ")})`);
    if (token.length < MIN_TOKEN_LENGTH)
      throw new Error(`LIFEBOAT_API_TOKENS_FILE: the token on line ${i + 1} of ${file} is shorter than ${MIN_TOKEN_LENGTH} characters`);
    out.push({ role: role.data, hash: secretHash(token), name: `tokens file, line ${i + 1}`, listed: true });
  });
  return out;
}

/** Parses the sign-in configuration. Throws an Error naming the variable (see the module comment). */
export function parseAuthConfig(env: AuthEnv): AuthConfig {
  const allowedHosts = new Set<string>();
  let publicOrigin: string | null = null;
  let secureCookies = false;
  if (env.LIFEBOAT_PUBLIC_URL) {
    const u = new URL(env.LIFEBOAT_PUBLIC_URL);
    publicOrigin = u.origin;
    secureCookies = u.protocol === "https:";
    allowedHosts.add(u.hostname.toLowerCase().replace(/^\[|\]$/g, ""));
  }
  for (const h of (env.LIFEBOAT_ALLOWED_HOSTS ?? "").split(",")) {
    const host = h.trim().toLowerCase();
    if (!host) continue;
    if (/[/\s]/.test(host)) throw new Error(`LIFEBOAT_ALLOWED_HOSTS: "${h.trim()}" is not a host name (give names like lifeboat.lan, without scheme or path)`);
    allowedHosts.add(host.replace(/:\d+$/, "").replace(/^\[|\]$/g, ""));
  }
  const proxies = parseTrustedProxies(env.LIFEBOAT_TRUSTED_PROXIES);
  if (env.LIFEBOAT_AUTH === "proxy" && proxies.entries.length === 0)
    throw new Error(
      "LIFEBOAT_TRUSTED_PROXIES: required when LIFEBOAT_AUTH=proxy (the addresses of your reverse proxy; its user header is ignored from anywhere else)",
    );
  let defaultRole: RoleT | null = null;
  if (env.LIFEBOAT_PROXY_DEFAULT_ROLE && env.LIFEBOAT_PROXY_DEFAULT_ROLE.toLowerCase() !== "none") {
    const r = Role.safeParse(env.LIFEBOAT_PROXY_DEFAULT_ROLE.toLowerCase());
    if (!r.success) throw new Error(`LIFEBOAT_PROXY_DEFAULT_ROLE: must be none, ${ROLES.join(", ")}`);
    defaultRole = r.data;
  }
  if (env.LIFEBOAT_SESSION_MAX_SECONDS < env.LIFEBOAT_SESSION_IDLE_SECONDS)
    throw new Error("LIFEBOAT_SESSION_MAX_SECONDS: must not be shorter than LIFEBOAT_SESSION_IDLE_SECONDS");
  const fileTokens = env.LIFEBOAT_API_TOKENS_FILE ? readTokensFile(env.LIFEBOAT_API_TOKENS_FILE) : [];
  if (env.LIFEBOAT_LAUNCHER_TOKEN) {
    if (env.LIFEBOAT_LAUNCHER_TOKEN.length < MIN_TOKEN_LENGTH) throw new Error(`LIFEBOAT_LAUNCHER_TOKEN: shorter than ${MIN_TOKEN_LENGTH} characters`);
    fileTokens.push({ role: "viewer", hash: secretHash(env.LIFEBOAT_LAUNCHER_TOKEN), name: "npm start", listed: false });
  }
  return {
    mode: env.LIFEBOAT_AUTH,
    allowedHosts: [...allowedHosts],
    publicOrigin,
    secureCookies,
    trustedProxies: proxies.list,
    trustedProxyList: proxies.entries,
    proxy: {
      userHeader: env.LIFEBOAT_PROXY_USER_HEADER.toLowerCase(),
      groupsHeader: env.LIFEBOAT_PROXY_GROUPS_HEADER.toLowerCase(),
      groupRoles: parseGroupRoles(env.LIFEBOAT_PROXY_ROLES),
      defaultRole,
    },
    sessionIdleMs: env.LIFEBOAT_SESSION_IDLE_SECONDS * 1000,
    sessionMaxMs: env.LIFEBOAT_SESSION_MAX_SECONDS * 1000,
    fileTokens,
    adminPasswordFile: env.LIFEBOAT_ADMIN_PASSWORD_FILE ?? null,
  };
}

/**
 * True when the dashboard answers to `host` (a Host header: name and optional port). The public
 * URL's host and LIFEBOAT_ALLOWED_HOSTS always; loopback names always (a page elsewhere cannot make
 * a browser send them: DNS rebinding needs a name the attacker owns). With neither configured, IP
 * addresses as well: an IP literal is its own origin, so it cannot be rebound either.
 */
export function hostAllowed(cfg: Pick<AuthConfig, "allowedHosts">, host: string | null): boolean {
  if (!host) return false;
  const m = /^(\[[^\]]+\]|[^:]+)(?::\d+)?$/.exec(host.trim().toLowerCase());
  if (!m) return false;
  const name = m[1].replace(/^\[|\]$/g, "");
  if (name === "localhost" || name === "::1" || /^127(\.\d{1,3}){3}$/.test(name)) return true;
  if (cfg.allowedHosts.includes(name)) return true;
  return cfg.allowedHosts.length === 0 && isIP(name) !== 0;
}
