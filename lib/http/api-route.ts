import "server-only";
import { NextResponse } from "next/server";
import { z } from "zod";
import { DomainError, toErrorAnswer } from "../contracts/errors";
import { logger } from "../log";

/**
 * The dashboard's one route wrapper. Every handler under app/api is made with `apiRoute`, which
 * declares who may call it and translates whatever it throws into the wire form exactly once:
 * a DomainError → its status and `{ code, message, ...details }`; a zod error → 400 `bad_request`;
 * anything else → 500 `internal` with a generic sentence (the cause goes to the log only).
 */

/**
 * Who may call a route. Recorded on every handler now; enforced in this one place once accounts
 * exist. viewer: reads; operator: back up, verify, refresh, cordon; admin: restores, drains,
 * deletions, migrations, secrets; public: liveness only.
 */
export const ACCESS_LEVELS = ["public", "viewer", "operator", "admin"] as const;
export type Access = (typeof ACCESS_LEVELS)[number];

export interface RouteOptions {
  access: Access;
}

/**
 * A route handler as Next.js calls it, carrying its declared access (read it with `routeAccess`).
 * `ctx` is optional only so tests can call a handler without params.
 */
export type ApiRouteHandler<C> = ((req: Request, ctx?: C) => Promise<Response>) & { readonly access: Access };

/** The context Next.js passes to a handler of a dynamic segment, e.g. `Params<{ id: string }>`. */
export type Params<P extends Record<string, string>> = { params: Promise<P> };

const log = logger("api");

const INTERNAL = "Internal error in the dashboard server; see its log.";

/** The answer for an error a handler threw (see the module comment). */
export function errorResponse(err: unknown, req?: Request): Response {
  if (err instanceof z.ZodError) {
    const message = err.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ");
    return NextResponse.json({ code: "bad_request", message }, { status: 400 });
  }
  const { status, body } = toErrorAnswer(err, INTERNAL);
  if (status >= 500 && body.code === "internal")
    log.error({ err, method: req?.method, path: req ? new URL(req.url).pathname : undefined }, "route handler failed");
  return NextResponse.json(body, { status });
}

/**
 * Makes a route handler: `export const POST = apiRoute({ access: "operator" }, async (req, ctx) => ...)`.
 * The handler never needs a try/catch for errors a user can meet: throw a DomainError.
 */
export function apiRoute<C = unknown>(opts: RouteOptions, fn: (req: Request, ctx: C) => Promise<Response> | Response): ApiRouteHandler<C> {
  const handler = async (req: Request, ctx?: C): Promise<Response> => {
    try {
      return await fn(req, ctx as C);
    } catch (err) {
      return errorResponse(err, req);
    }
  };
  return Object.assign(handler, { access: opts.access });
}

/** The access a route handler declared, or undefined when it was not made with `apiRoute`. */
export function routeAccess(handler: unknown): Access | undefined {
  const access = (handler as { access?: unknown } | null)?.access;
  return typeof handler === "function" && ACCESS_LEVELS.includes(access as Access) ? (access as Access) : undefined;
}

/** Parses a JSON request body with a schema. Throws DomainError `bad_json`, or the schema's ZodError. */
export async function readJson<T>(req: Request, schema: z.ZodType<T>): Promise<T> {
  let raw: unknown;
  try {
    raw = await req.json();
  } catch {
    throw new DomainError("bad_json", "The request body is not valid JSON.");
  }
  return schema.parse(raw);
}

/** Parses the query string with a schema. Throws the schema's ZodError (answered 400). */
export function readQuery<T>(req: Request, schema: z.ZodType<T>): T {
  return schema.parse(Object.fromEntries(new URL(req.url).searchParams));
}
