import { z } from "zod";

/**
 * Accounts, roles and API tokens of the dashboard (issue 10), shared by its server and the browser.
 *
 *   POST   /api/auth/login        LoginRequest → 200 Me (sets the session cookie) | 401 | 429
 *   POST   /api/auth/logout       → 200 `{ ok }` (ends this session, clears the cookie)
 *   GET    /api/auth/me           → Me
 *   POST   /api/auth/password     ChangePasswordRequest → 200 `{ ok }` (other sessions end)
 *   GET    /api/users             → UserList                          (admin)
 *   POST   /api/users             CreateUserRequest → 201 UserView     (admin)
 *   PATCH  /api/users/:name       UpdateUserRequest → UserView         (admin: role, new password)
 *   DELETE /api/users/:name       → `{ ok }`                           (admin)
 *   GET    /api/tokens            → TokenList                          (admin)
 *   POST   /api/tokens            CreateTokenRequest → 201 CreatedToken (the token, shown once)
 *   DELETE /api/tokens/:id        → `{ ok }`                           (admin: revoke)
 */

/** Roles from least to most: each may do everything the ones before it may. */
export const ROLES = ["viewer", "operator", "admin"] as const;
export const Role = z.enum(ROLES);
export type Role = z.infer<typeof Role>;

/**
 * Who may call a route or see a control: `public` (anyone, signed in or not: liveness and the
 * sign-in itself), else the least role that may.
 */
export const ACCESS_LEVELS = ["public", ...ROLES] as const;
export type Access = (typeof ACCESS_LEVELS)[number];

/** True when `role` may do what `access` requires (viewer < operator < admin). */
export function roleAllows(role: Role | null | undefined, access: Access): boolean {
  if (access === "public") return true;
  if (!role) return false;
  return ROLES.indexOf(role) >= ROLES.indexOf(access);
}

/**
 * Pages that need more than a viewer, by path prefix: the page guard (proxy.ts) answers a lesser
 * role with a page saying so, and the navigation hides them. The API enforces the same on its own.
 */
export const PAGE_ACCESS: { prefix: string; access: Access }[] = [
  { prefix: "/restore", access: "admin" },
  { prefix: "/nodes/migrate", access: "admin" },
  { prefix: "/settings", access: "admin" },
];

/** The access a page path needs: the longest matching PAGE_ACCESS prefix, else viewer. */
export function pageAccess(pathname: string): Access {
  const hit = PAGE_ACCESS.filter((p) => pathname === p.prefix || pathname.startsWith(p.prefix + "/")).sort((a, b) => b.prefix.length - a.prefix.length)[0];
  return hit?.access ?? "viewer";
}

/**
 * `next` (where to go after signing in) when it is a path of this site, else "/". A path starting
 * `//` or `/\\` is another host's, and so is one that turns into that once a URL parser drops the
 * tabs and newlines it ignores (`/%09/evil.example`). Node's URL parses as a browser does (WHATWG).
 */
export function localPath(next: string | null | undefined): string {
  if (typeof next !== "string" || !/^\/(?![/\\])/.test(next)) return "/";
  const base = "http://lifeboat.invalid";
  return new URL(next, base).origin === base ? next : "/";
}

/** Shortest password the dashboard accepts (generated ones are longer). */
export const MIN_PASSWORD_LENGTH = 12;
/** Shortest API token the dashboard accepts (generated ones are 47 characters). */
export const MIN_TOKEN_LENGTH = 32;

const password = z
  .string()
  .min(MIN_PASSWORD_LENGTH, { message: `must be at least ${MIN_PASSWORD_LENGTH} characters` })
  .max(1024);
const userName = z
  .string()
  .trim()
  .min(1, { message: "is required" })
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]*$/, { message: "may hold letters, digits and . _ @ - (starting with a letter or digit)" });

/** How the caller is signed in: a password session, an API token, or a user header from a trusted proxy. */
export const PrincipalKind = z.enum(["session", "token", "proxy"]);

/** GET /api/auth/me: who the caller is and what they may do. */
export const Me = z.object({
  name: z.string(),
  role: Role,
  kind: PrincipalKind,
  /** Password sessions only: when it ends at the latest (absolute expiry). */
  expiresAt: z.string().nullable(),
});
export type Me = z.infer<typeof Me>;

/** POST /api/auth/login */
export const LoginRequest = z.strictObject({ name: z.string().trim().min(1).max(200), password: z.string().min(1).max(1024) });
export type LoginRequest = z.infer<typeof LoginRequest>;

/** POST /api/auth/password: the caller's own password. */
export const ChangePasswordRequest = z.strictObject({ current: z.string().min(1).max(1024), next: password });
export type ChangePasswordRequest = z.infer<typeof ChangePasswordRequest>;

export const UserView = z.object({
  name: z.string(),
  role: Role,
  createdAt: z.string(),
  passwordChangedAt: z.string(),
  /** Sessions that have not ended. */
  activeSessions: z.number().int(),
});
export type UserView = z.infer<typeof UserView>;
export const UserList = z.object({ users: z.array(UserView) });
export type UserList = z.infer<typeof UserList>;

/** POST /api/users */
export const CreateUserRequest = z.strictObject({ name: userName, role: Role, password });
export type CreateUserRequest = z.infer<typeof CreateUserRequest>;

/** PATCH /api/users/:name: a new role, a new password (ends the user's sessions), or both. */
export const UpdateUserRequest = z
  .strictObject({ role: Role.optional(), password: password.optional() })
  .refine((r) => r.role !== undefined || r.password !== undefined, { message: "give a role, a password or both" });
export type UpdateUserRequest = z.infer<typeof UpdateUserRequest>;

export const TokenView = z.object({
  id: z.string(),
  name: z.string(),
  role: Role,
  /** "ui": made by an admin here (revocable); "file": from LIFEBOAT_API_TOKENS_FILE (edit the file to revoke). */
  source: z.enum(["ui", "file"]),
  createdAt: z.string().nullable(),
  createdBy: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
});
export type TokenView = z.infer<typeof TokenView>;
export const TokenList = z.object({ tokens: z.array(TokenView) });
export type TokenList = z.infer<typeof TokenList>;

/** POST /api/tokens */
export const CreateTokenRequest = z.strictObject({
  name: z
    .string()
    .trim()
    .min(1, { message: "is required" })
    .max(64)
    .regex(/^[A-Za-z0-9][A-Za-z0-9 ._@:-]*$/, { message: "may hold letters, digits, spaces and . _ @ : -" }),
  role: Role,
});
export type CreateTokenRequest = z.infer<typeof CreateTokenRequest>;

/** 201 answer of POST /api/tokens: the token itself, shown this once and never again. */
export const CreatedToken = z.object({ token: z.string(), view: TokenView });
export type CreatedToken = z.infer<typeof CreatedToken>;

export const OkResponse = z.object({ ok: z.literal(true) });
