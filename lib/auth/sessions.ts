import "server-only";
import { randomBytes } from "node:crypto";
import type { Db } from "../db/database";
import { secretHash } from "./config";
import { prepared } from "./statements";
import type { Role } from "../contracts/auth";

/**
 * Password sessions (migration 40): the browser holds a random id in an HttpOnly cookie, the
 * database only its sha256, so a copy of lifeboat.db signs nobody in. A session ends after
 * `idleMs` without a request or `maxMs` after sign-in, whichever comes first, at sign-out, and when
 * its user's password changes.
 */

export interface SessionTimes {
  idleMs: number;
  maxMs: number;
}

export interface SessionUser {
  idHash: string;
  userId: number;
  name: string;
  role: Role;
  expiresAt: number;
}

/** Starts a session for `userId`; returns the id for the cookie (shown to nobody else). */
export function createSession(db: Db, userId: number, times: SessionTimes, address: string | null, now = Date.now()): { id: string; expiresAt: number } {
  const id = randomBytes(32).toString("base64url");
  const expiresAt = now + times.maxMs;
  db.prepare("INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at, client_address) VALUES (?, ?, ?, ?, ?, ?)").run(
    secretHash(id),
    userId,
    now,
    now,
    expiresAt,
    address,
  );
  // Ended sessions are dropped on each sign-in, so the table stays small without a timer.
  db.prepare("DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?").run(now, now - times.idleMs);
  return { id, expiresAt };
}

/**
 * The live session with this cookie value and its user, or null (unknown, idle too long, past its
 * absolute end). Marks it seen — at most every tenth of the idle time, to spare writes.
 */
export function lookupSession(db: Db, id: string, times: SessionTimes, now = Date.now()): SessionUser | null {
  if (!id || id.length > 100) return null;
  const idHash = secretHash(id);
  const row = prepared(
    db,
    `SELECT s.id_hash AS idHash, s.user_id AS userId, s.last_seen_at AS lastSeen, s.expires_at AS expiresAt, u.name, u.role
     FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?`,
  ).get(idHash) as (SessionUser & { lastSeen: number }) | undefined;
  if (!row) return null;
  if (row.expiresAt <= now || row.lastSeen + times.idleMs <= now) {
    db.prepare("DELETE FROM sessions WHERE id_hash = ?").run(idHash);
    return null;
  }
  if (now - row.lastSeen >= Math.min(60_000, times.idleMs / 10)) prepared(db, "UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?").run(now, idHash);
  return { idHash: row.idHash, userId: row.userId, name: row.name, role: row.role, expiresAt: row.expiresAt };
}

/** Ends one session (sign-out). */
export function endSession(db: Db, idHash: string): void {
  db.prepare("DELETE FROM sessions WHERE id_hash = ?").run(idHash);
}
