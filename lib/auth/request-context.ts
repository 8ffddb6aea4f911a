import "server-only";
import { AsyncLocalStorage } from "node:async_hooks";
import type { Role } from "../contracts/auth";

/**
 * Who is acting, for the audit log: the principal of the API request being handled (set by
 * apiRoute's guard), carried through everything the handler awaits. Domain code never passes it
 * around; `audit()` reads it. Background work (drills, the catalog timer) runs outside any request
 * (lib/server/context.ts creates singletons outside it), so its entries say "system".
 */

export interface Actor {
  /** A user's name, an API token's name, or "system". */
  name: string;
  role: Role | null;
  kind: "session" | "token" | "proxy" | "system" | "anonymous";
  /** The client's address (the browser's, when a trusted proxy forwarded it), or null when unknown. */
  address: string | null;
}

export const SYSTEM_ACTOR: Actor = { name: "system", role: null, kind: "system", address: null };

// One store per process: Next.js bundles this module once per route, and all must share it.
const KEY = Symbol.for("lifeboat.auth.requestContext");
const g = globalThis as typeof globalThis & { [KEY]?: AsyncLocalStorage<Actor> };
const storage: AsyncLocalStorage<Actor> = (g[KEY] ??= new AsyncLocalStorage<Actor>());

/** Runs `fn` with `actor` as the one acting. */
export function runAs<T>(actor: Actor, fn: () => T): T {
  return storage.run(actor, fn);
}

/** Runs `fn` outside any request, so what it starts (timers, jobs) is the system's. */
export function runAsSystem<T>(fn: () => T): T {
  return storage.exit(fn);
}

/** Who is acting now: the request's principal, or the system. */
export function currentActor(): Actor {
  return storage.getStore() ?? SYSTEM_ACTOR;
}
