import "server-only";
import { randomBytes, randomUUID } from "node:crypto";
import { DomainError } from "../contracts/errors";
import { ROLES, type Role, type TokenView } from "../contracts/auth";
import type { Db } from "../db/database";
import { secretHash, type FileToken } from "./config";
import { prepared } from "./statements";

/**
 * API tokens for scripts and Prometheus (`Authorization: Bearer <token>`): made by an admin in the
 * UI (table `api_tokens`, only the sha256 kept; the token is shown once) or listed in
 * LIFEBOAT_API_TOKENS_FILE (read at start, only hashes kept in memory). A token made by a signed-in
 * user (or by a token such a user made) acts with no more than that user's role at the time of the
 * request, and is revoked with the user: demoting or deleting someone takes back what their tokens
 * could do.
 */

export interface TokenPrincipal {
  id: string;
  name: string;
  role: Role;
  source: "ui" | "file";
}

/** A new token: `lbt_` and 43 random URL-safe characters (256 bits). */
function newToken(): string {
  return `lbt_${randomBytes(32).toString("base64url")}`;
}

/** The lesser of a token's role and its maker's (a token nobody made: its own). */
function capped(role: Role, makerRole: Role | null): Role {
  return makerRole && ROLES.indexOf(makerRole) < ROLES.indexOf(role) ? makerRole : role;
}

/** The user a UI token belongs to (its maker's id), or null: made by a file token, a proxy user, or no such token. */
export function tokenMaker(db: Db, id: string): number | null {
  return (db.prepare("SELECT created_by_user FROM api_tokens WHERE id = ?").pluck().get(id) as number | null | undefined) ?? null;
}

/**
 * Makes a token; returns the token itself (to show once) and its view. `makerId`: the user it
 * belongs to (see the module comment), or null. Throws `conflict` for a taken name.
 */
export function createToken(db: Db, name: string, role: Role, createdBy: string, makerId: number | null): { token: string; view: TokenView } {
  const token = newToken();
  const id = randomUUID();
  const at = new Date().toISOString();
  try {
    db.prepare("INSERT INTO api_tokens (id, name, role, token_hash, created_at, created_by, created_by_user) VALUES (?, ?, ?, ?, ?, ?, ?)").run(
      id,
      name,
      role,
      secretHash(token),
      at,
      createdBy,
      makerId,
    );
  } catch (err) {
    if ((err as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE")
      throw new DomainError("conflict", `There is already a token called ${name}. Choose another name.`);
    throw err;
  }
  return { token, view: { id, name, role, source: "ui", createdAt: at, createdBy, lastUsedAt: null } };
}

/** Tokens made in the UI, then those of the file (which cannot be revoked here). */
export function listTokens(db: Db, fileTokens: FileToken[]): TokenView[] {
  const rows = db
    .prepare(
      `SELECT t.id, t.name, t.role, u.role AS makerRole, t.created_at AS createdAt, t.created_by AS createdBy, t.last_used_at AS lastUsedAt
       FROM api_tokens t LEFT JOIN users u ON u.id = t.created_by_user ORDER BY t.created_at`,
    )
    .all() as (Omit<TokenView, "source"> & { makerRole: Role | null })[];
  return [
    ...rows.map(({ makerRole, ...r }) => ({ ...r, role: capped(r.role, makerRole), source: "ui" as const })),
    ...fileTokens.flatMap((t, i) =>
      t.listed ? [{ id: `file-${i + 1}`, name: t.name, role: t.role, source: "file" as const, createdAt: null, createdBy: null, lastUsedAt: null }] : [],
    ),
  ];
}

/** Revokes a UI token; resolves with its name. Throws `not_found` for an unknown id (file tokens are edited in the file). */
export function revokeToken(db: Db, id: string): string {
  const row = db.prepare("SELECT name FROM api_tokens WHERE id = ?").get(id) as { name: string } | undefined;
  if (!row)
    throw new DomainError(
      "not_found",
      id.startsWith("file-")
        ? "Tokens from LIFEBOAT_API_TOKENS_FILE are revoked by removing their line from the file and restarting the dashboard."
        : "No such API token (it may have been revoked already).",
    );
  db.prepare("DELETE FROM api_tokens WHERE id = ?").run(id);
  return row.name;
}

/**
 * The token's principal (a UI token's role capped by its maker's), or null when no token matches.
 * Records when a UI token was last used (at most once a minute).
 */
export function lookupToken(db: Db, fileTokens: FileToken[], token: string, now = new Date()): TokenPrincipal | null {
  if (!token || token.length > 512) return null;
  const hash = secretHash(token);
  const row = prepared(
    db,
    `SELECT t.id, t.name, t.role, u.role AS makerRole, t.last_used_at AS lastUsedAt
     FROM api_tokens t LEFT JOIN users u ON u.id = t.created_by_user WHERE t.token_hash = ?`,
  ).get(hash) as { id: string; name: string; role: Role; makerRole: Role | null; lastUsedAt: string | null } | undefined;
  if (row) {
    if (!row.lastUsedAt || now.getTime() - Date.parse(row.lastUsedAt) >= 60_000)
      db.prepare("UPDATE api_tokens SET last_used_at = ? WHERE id = ?").run(now.toISOString(), row.id);
    return { id: row.id, name: row.name, role: capped(row.role, row.makerRole), source: "ui" };
  }
  const i = fileTokens.findIndex((t) => t.hash === hash);
  return i >= 0 ? { id: `file-${i + 1}`, name: fileTokens[i].name, role: fileTokens[i].role, source: "file" } : null;
}
