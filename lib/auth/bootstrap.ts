import "server-only";
import { chmodSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { MIN_PASSWORD_LENGTH } from "../contracts/auth";
import type { Db } from "../db/database";
import { ConfigError } from "../env";
import type { Logger } from "pino";
import { INITIAL_PASSWORD_FILE } from "./config";
import { generatePassword, hashPasswordSync } from "./passwords";
import { countUsers, insertUser } from "./users";

/**
 * First run (no users yet): creates `admin` with the password in LIFEBOAT_ADMIN_PASSWORD_FILE, or a
 * generated one written to `<data dir>/initial-admin-password` (0600). Never logs the password.
 * Throws ConfigError when the file cannot be read or holds too short a password.
 */
export function ensureInitialAdmin(db: Db, opts: { dataDir: string; passwordFile: string | null; log: Logger }): void {
  if (countUsers(db) > 0) return;
  let password: string;
  if (opts.passwordFile) {
    try {
      password = readFileSync(opts.passwordFile, "utf8").split(/\r?\n/)[0];
    } catch (e) {
      throw new ConfigError(`LIFEBOAT_ADMIN_PASSWORD_FILE: cannot read ${opts.passwordFile} (${(e as NodeJS.ErrnoException).code})`);
    }
    if (password.length < MIN_PASSWORD_LENGTH)
      throw new ConfigError(
        `LIFEBOAT_ADMIN_PASSWORD_FILE: the password on the first line of ${opts.passwordFile} is shorter than ${MIN_PASSWORD_LENGTH} characters`,
      );
  } else {
    password = generatePassword();
    const file = path.join(opts.dataDir, INITIAL_PASSWORD_FILE);
    writeFileSync(file, password + "\n", { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  // Two servers starting at once on one data dir: the second finds the name taken and keeps the first's.
  try {
    db.transaction(() => {
      if (countUsers(db) === 0) insertUser(db, "admin", "admin", hashPasswordSync(password));
    })();
  } catch (err) {
    if (countUsers(db) === 0) throw err;
  }
  opts.log.warn(
    { user: "admin", passwordFrom: opts.passwordFile ? "LIFEBOAT_ADMIN_PASSWORD_FILE" : path.join(opts.dataDir, INITIAL_PASSWORD_FILE) },
    "first run: created the admin account",
  );
}

/** Removes the generated first password once the admin chose their own (it no longer signs anyone in). */
export function dropInitialPasswordFile(dataDir: string): void {
  rmSync(path.join(dataDir, INITIAL_PASSWORD_FILE), { force: true });
}
