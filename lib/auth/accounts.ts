import "server-only";
import { DomainError } from "../contracts/errors";
import type { ChangePasswordRequest, CreateTokenRequest, CreateUserRequest, UpdateUserRequest, UserView } from "../contracts/auth";
import { audit } from "../db/database";
import { createToken, revokeToken, tokenMaker } from "./api-tokens";
import { dropInitialPasswordFile } from "./bootstrap";
import type { AuthService } from "./index";
import { hashPassword, verifyPassword } from "./passwords";
import type { Principal } from "./principal";
import { currentActor } from "./request-context";
import { createSession, endSession } from "./sessions";
import { deleteUser, findUser, findUserById, insertUser, listUsers, setPasswordHash, setRole } from "./users";

/**
 * What people do with accounts: sign in and out, change their password; what admins do: users and
 * API tokens. Each is audited with who did it (the request's actor) and never with a secret.
 */

const WRONG = "Wrong user name or password.";

function limited(ms: number): DomainError {
  const minutes = Math.max(1, Math.ceil(ms / 60_000));
  return new DomainError(
    "rate_limited",
    `Too many failed sign-ins. Wait ${minutes} minute${minutes === 1 ? "" : "s"} and try again, or ask an admin to reset the password (on the dashboard's host: npm run users -- reset-password <name>).`,
    { details: { retryAfterSeconds: Math.ceil(ms / 1000) } },
  );
}

/**
 * Checks a name and password and starts a session. Throws `rate_limited` (429) past the limits —
 * before looking at the password — and `unauthorized` (401) with one sentence whether the user
 * exists or not. Resolves with the session id for the cookie.
 */
export async function signIn(
  auth: AuthService,
  name: string,
  password: string,
): Promise<{ id: string; expiresAt: number; user: { name: string; role: string } }> {
  const address = currentActor().address ?? "unknown";
  const userKey = name.trim().toLowerCase();
  const wait = Math.max(auth.limits.user.retryAfterMs(userKey), auth.limits.address.retryAfterMs(address));
  if (wait > 0) {
    audit(auth.db, "auth.login", findUser(auth.db, name) ? name : "(unknown name)", "rate limited");
    throw limited(wait);
  }
  // Counted as failed before the password is checked (the check awaits scrypt), so guesses sent at
  // once each meet the ones before them: counted after, 20 concurrent guesses were all checked.
  auth.limits.user.fail(userKey);
  const addressFailure = auth.limits.address.fail(address);
  const user = findUser(auth.db, name);
  const ok = await verifyPassword(password, user?.passwordHash ?? null);
  if (!user || !ok) {
    // The name is recorded only when it is a user's: a password typed into the name field stays out of the log.
    audit(auth.db, "auth.login", user ? user.name : "(unknown name)", "failed");
    throw new DomainError("unauthorized", WRONG);
  }
  auth.limits.user.clear(userKey);
  auth.limits.address.forgive(addressFailure);
  const session = createSession(auth.db, user.id, { idleMs: auth.cfg.sessionIdleMs, maxMs: auth.cfg.sessionMaxMs }, currentActor().address);
  audit(auth.db, "auth.login", user.name, "ok", { role: user.role });
  return { ...session, user: { name: user.name, role: user.role } };
}

/** Ends the caller's session (a token or proxy user has none: nothing to end). */
export function signOut(auth: AuthService, who: Principal): void {
  if (who.sessionIdHash) endSession(auth.db, who.sessionIdHash);
  audit(auth.db, "auth.logout", who.name, "ok");
}

/**
 * Changes the caller's own password; their other sessions end. Throws `forbidden` for tokens and
 * proxy users, `unauthorized` for a wrong current password, `rate_limited` past the sign-in limit.
 */
export async function changeOwnPassword(auth: AuthService, who: Principal, req: ChangePasswordRequest): Promise<void> {
  if (who.kind !== "session" || who.userId === undefined)
    throw new DomainError("forbidden", "Only an account signed in with a password can change its password here.");
  const user = findUserById(auth.db, who.userId)!;
  // A wrong current password is a failed sign-in for the name: else a session (a browser left signed
  // in) could guess the password without the limits. Counted before the check, as signIn does.
  const userKey = user.name.toLowerCase();
  const wait = auth.limits.user.retryAfterMs(userKey);
  if (wait > 0) {
    audit(auth.db, "user.password", user.name, "rate limited");
    throw limited(wait);
  }
  auth.limits.user.fail(userKey);
  if (!(await verifyPassword(req.current, user.passwordHash))) {
    audit(auth.db, "user.password", user.name, "failed", { reason: "wrong current password" });
    throw new DomainError("unauthorized", "The current password is wrong; nothing changed.");
  }
  auth.limits.user.clear(userKey);
  setPasswordHash(auth.db, user.id, await hashPassword(req.next), who.sessionIdHash);
  dropInitialPasswordFileOf(auth, user.name);
  audit(auth.db, "user.password", user.name, "ok", { by: "self" });
}

/** The generated first password no longer signs in once `admin` has another password (or is gone): its file goes. */
function dropInitialPasswordFileOf(auth: AuthService, name: string): void {
  if (name.toLowerCase() === "admin") dropInitialPasswordFile(auth.dataDir);
}

export function users(auth: AuthService): UserView[] {
  return listUsers(auth.db);
}

const view = (auth: AuthService, name: string): UserView => listUsers(auth.db).find((u) => u.name.toLowerCase() === name.toLowerCase())!;

/** Adds a user. Throws `conflict` when the name is taken. */
export async function addUser(auth: AuthService, req: CreateUserRequest): Promise<UserView> {
  const user = insertUser(auth.db, req.name, req.role, await hashPassword(req.password));
  audit(auth.db, "user.create", user.name, "ok", { role: user.role });
  return view(auth, user.name);
}

function mustFind(auth: AuthService, name: string) {
  const user = findUser(auth.db, name);
  if (!user) throw new DomainError("not_found", `There is no user called ${name}.`);
  return user;
}

/** Changes a user's role and/or password (their sessions end). Throws `not_found`, or `conflict` for the last admin. */
export async function updateUser(auth: AuthService, name: string, req: UpdateUserRequest): Promise<UserView> {
  const user = mustFind(auth, name);
  if (req.role && req.role !== user.role) {
    setRole(auth.db, user.id, req.role);
    audit(auth.db, "user.role", user.name, "ok", { from: user.role, to: req.role });
  }
  if (req.password) {
    setPasswordHash(auth.db, user.id, await hashPassword(req.password));
    dropInitialPasswordFileOf(auth, user.name);
    audit(auth.db, "user.password", user.name, "ok", { by: "admin" });
  }
  return view(auth, user.name);
}

/** Deletes a user. Throws `not_found`, or `conflict` for the last admin or oneself. */
export function removeUser(auth: AuthService, who: Principal, name: string): void {
  const user = mustFind(auth, name);
  if (who.kind === "session" && who.userId === user.id) throw new DomainError("conflict", "You cannot delete your own account while signed in with it.");
  const tokensRevoked = deleteUser(auth.db, user.id);
  dropInitialPasswordFileOf(auth, user.name);
  audit(auth.db, "user.delete", user.name, "ok", { role: user.role, tokensRevoked });
}

/**
 * Makes an API token; the token is in the answer only. It belongs to the user who asks (a token asks
 * for the user it belongs to), so it acts with no more than that user's role. Throws `conflict` for a taken name.
 */
export function issueToken(auth: AuthService, who: Principal, req: CreateTokenRequest): ReturnType<typeof createToken> {
  const maker = who.kind === "session" ? (who.userId ?? null) : who.kind === "token" && who.tokenId ? tokenMaker(auth.db, who.tokenId) : null;
  const made = createToken(auth.db, req.name, req.role, currentActor().name, maker);
  audit(auth.db, "token.create", made.view.name, "ok", { role: made.view.role });
  return made;
}

/** Revokes a UI token. Throws `not_found`. */
export function withdrawToken(auth: AuthService, id: string): void {
  const name = revokeToken(auth.db, id);
  audit(auth.db, "token.revoke", name, "ok");
}
