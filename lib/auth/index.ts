import "server-only";
import type { AuthConfig } from "./config";
import type { Db } from "../db/database";
import { logger } from "../log";
import { serverContext, singleton } from "../server/context";
import { ensureInitialAdmin } from "./bootstrap";
import { FailureLimiter, LOGIN_LIMITS } from "./rate-limit";

/**
 * The dashboard's sign-in side, wired once per process: its configuration, the database, and the
 * failed-sign-in limiters. Creating it makes the first admin on a first run (lib/auth/bootstrap.ts).
 */
export interface AuthService {
  db: Db;
  cfg: AuthConfig;
  dataDir: string;
  limits: { user: FailureLimiter; address: FailureLimiter };
}

/** The process's AuthService. Throws ConfigError (first run: unreadable LIFEBOAT_ADMIN_PASSWORD_FILE). */
export function authService(): AuthService {
  return singleton("auth", () => {
    const { env, db } = serverContext();
    ensureInitialAdmin(db, { dataDir: env.dataDir, passwordFile: env.auth.adminPasswordFile, log: logger("auth") });
    return {
      db,
      cfg: env.auth,
      dataDir: env.dataDir,
      limits: { user: new FailureLimiter(db, "user", LOGIN_LIMITS.user), address: new FailureLimiter(db, "address", LOGIN_LIMITS.address) },
    };
  });
}
