import "server-only";
import { randomBytes, randomUUID } from "node:crypto";
import { DomainError } from "../contracts/errors";
import type { Role, TokenView } from "../contracts/auth";
import type { Db } from "../db/database";
import { secretHash, type FileToken } from "./config";
import { prepared } from "./statements";

/**
 * API tokens for scripts and Prometheus (`Authorization: Bearer <token>`): made by an admin in the
 * UI (table `api_tokens`, only the sha256 kept; the token is shown once) or listed in
 * LIFEBOAT_API_TOKENS_FILE (read at start, only hashes kept in memory).
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

/** Makes a token; resolves with the token itself (to show once) and its view. Throws `conflict` for a taken name. */
export function createToken(db: Db, name: string, role: Role, createdBy: string): { token: string; view: TokenView } {
  const token = newToken();
  const id = randomUUID();
  const at = new Date().toISOString();
  try {
    db.prepare("INSERT INTO api_tokens (id, name, role, token_hash, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)").run(
      id,
      name,
      role,
      secretHash(token),
      at,
      createdBy,
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
    .prepare("SELECT id, name, role, created_at AS createdAt, created_by AS createdBy, last_used_at AS lastUsedAt FROM api_tokens ORDER BY created_at")
    .all() as Omit<TokenView, "source">[];
  return [
    ...rows.map((r) => ({ ...r, source: "ui" as const })),
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

/** The token's principal, or null when no token matches. Records when a UI token was last used (at most once a minute). */
export function lookupToken(db: Db, fileTokens: FileToken[], token: string, now = new Date()): TokenPrincipal | null {
  if (!token || token.length > 512) return null;
  const hash = secretHash(token);
  const row = prepared(db, "SELECT id, name, role, last_used_at AS lastUsedAt FROM api_tokens WHERE token_hash = ?").get(hash) as
    { id: string; name: string; role: Role; lastUsedAt: string | null } | undefined;
  if (row) {
    if (!row.lastUsedAt || now.getTime() - Date.parse(row.lastUsedAt) >= 60_000)
      db.prepare("UPDATE api_tokens SET last_used_at = ? WHERE id = ?").run(now.toISOString(), row.id);
    return { id: row.id, name: row.name, role: row.role, source: "ui" };
  }
  const i = fileTokens.findIndex((t) => t.hash === hash);
  return i >= 0 ? { id: `file-${i + 1}`, name: fileTokens[i].name, role: fileTokens[i].role, source: "file" } : null;
}
