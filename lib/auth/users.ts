import "server-only";
import { DomainError } from "../contracts/errors";
import type { Role, UserView } from "../contracts/auth";
import type { Db } from "../db/database";

/** The `users` table (migration 40). Names are unique regardless of case. */

export interface UserRow {
  id: number;
  name: string;
  role: Role;
  passwordHash: string;
  createdAt: string;
  passwordChangedAt: string;
}

const COLUMNS = "id, name, role, password_hash AS passwordHash, created_at AS createdAt, password_changed_at AS passwordChangedAt";

/** The user called `name` (any case), or null. */
export function findUser(db: Db, name: string): UserRow | null {
  return (db.prepare(`SELECT ${COLUMNS} FROM users WHERE name = ?`).get(name.trim()) as UserRow | undefined) ?? null;
}

export function findUserById(db: Db, id: number): UserRow | null {
  return (db.prepare(`SELECT ${COLUMNS} FROM users WHERE id = ?`).get(id) as UserRow | undefined) ?? null;
}

export function countUsers(db: Db): number {
  return db.prepare("SELECT COUNT(*) FROM users").pluck().get() as number;
}

/** Every user with the number of sessions that have not ended, by name. */
export function listUsers(db: Db, now = Date.now()): UserView[] {
  return db
    .prepare(
      `SELECT u.name, u.role, u.created_at AS createdAt, u.password_changed_at AS passwordChangedAt,
              (SELECT COUNT(*) FROM sessions s WHERE s.user_id = u.id AND s.expires_at > ?) AS activeSessions
       FROM users u ORDER BY u.name COLLATE NOCASE`,
    )
    .all(now) as UserView[];
}

/** Adds a user. Throws DomainError `conflict` when the name is taken (in any case). */
export function insertUser(db: Db, name: string, role: Role, passwordHash: string): UserRow {
  const at = new Date().toISOString();
  try {
    db.prepare("INSERT INTO users (name, role, password_hash, created_at, password_changed_at) VALUES (?, ?, ?, ?, ?)").run(name, role, passwordHash, at, at);
  } catch (err) {
    if ((err as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE")
      throw new DomainError("conflict", `There is already a user called ${name}. Choose another name.`);
    throw err;
  }
  return findUser(db, name)!;
}

/** Sets a user's password hash and ends all their sessions (a new password signs everyone out). */
export function setPasswordHash(db: Db, userId: number, passwordHash: string, keepSessionHash?: string): void {
  db.transaction(() => {
    db.prepare("UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?").run(passwordHash, new Date().toISOString(), userId);
    db.prepare("DELETE FROM sessions WHERE user_id = ? AND id_hash IS NOT ?").run(userId, keepSessionHash ?? null);
  })();
}

/** Changes a user's role. Throws `conflict` when it would leave no admin. */
export function setRole(db: Db, userId: number, role: Role): void {
  db.transaction(() => {
    const user = findUserById(db, userId)!;
    if (user.role === "admin" && role !== "admin") assertAnotherAdmin(db, userId, `${user.name} is the last admin: make another user admin first.`);
    db.prepare("UPDATE users SET role = ? WHERE id = ?").run(role, userId);
  })();
}

/** Deletes a user, their sessions and the API tokens they made; returns how many tokens went. Throws `conflict` when it is the last admin. */
export function deleteUser(db: Db, userId: number): number {
  return db.transaction(() => {
    const user = findUserById(db, userId)!;
    if (user.role === "admin") assertAnotherAdmin(db, userId, `${user.name} is the last admin: make another user admin first.`);
    const tokens = db.prepare("SELECT COUNT(*) FROM api_tokens WHERE created_by_user = ?").pluck().get(userId) as number;
    db.prepare("DELETE FROM users WHERE id = ?").run(userId);
    return tokens;
  })();
}

function assertAnotherAdmin(db: Db, exceptId: number, message: string): void {
  const others = db.prepare("SELECT COUNT(*) FROM users WHERE role = 'admin' AND id != ?").pluck().get(exceptId) as number;
  if (others === 0) throw new DomainError("conflict", message);
}
