import "server-only";
import { getEnv, type DashboardEnv } from "../env";
import { openDatabase, type Db } from "../db/database";
import { runAsSystem } from "../auth/request-context";

/**
 * The dashboard server's process-wide state, created on first use. Kept on globalThis so Next.js
 * module reloads (dev) and multiple route bundles share one database handle.
 */
interface ServerContext {
  env: DashboardEnv;
  db: Db;
}

const KEY = Symbol.for("lifeboat.serverContext");
type G = typeof globalThis & { [KEY]?: ServerContext };

export function serverContext(): ServerContext {
  const g = globalThis as G;
  if (!g[KEY]) {
    const env = getEnv();
    g[KEY] = { env, db: openDatabase(env.dataDir) };
  }
  return g[KEY]!;
}

/**
 * Process-wide singletons keyed by name (services with timers, caches). Created outside the
 * request that happens to ask first, so the work they start later is the system's in the audit log.
 */
export function singleton<T>(name: string, create: () => T): T {
  const key = Symbol.for(`lifeboat.singleton.${name}`);
  const g = globalThis as unknown as Record<symbol, T | undefined>;
  g[key] ??= runAsSystem(create);
  return g[key]!;
}
