import "server-only";
import { NextResponse } from "next/server";
import { z } from "zod";
import { ACCESS_LEVELS, type Access } from "../contracts/auth";
import { DomainError, toErrorAnswer } from "../contracts/errors";
import { duplicateKey } from "../contracts/json-text";
import { logger } from "../log";
import { runAs } from "../auth/request-context";
import { guardRequest, MAX_BODY_BYTES, tooLarge, type Guarded } from "./guard";

/**
 * The dashboard's one route wrapper. Every handler under app/api is made with `apiRoute`, which
 * declares who may call it, enforces that before the handler runs (lib/http/guard.ts: host, body
 * size, caller, same origin, role), runs the handler as that caller (so the audit log knows who
 * acted), and translates whatever it throws into the wire form exactly once:
 * a DomainError → its status and `{ code, message, ...details }`; a zod error → 400 `bad_request`;
 * anything else → 500 `internal` with a generic sentence (the cause goes to the log only).
 */

/**
 * Who may call a route, enforced by apiRoute: viewer reads; operator also backs up, verifies,
 * refreshes, cordons; admin also restores, drains, deletes, migrates, reveals secrets, manages
 * users and tokens; public is for liveness and signing in only (app/api/access.test.ts).
 */
export { ACCESS_LEVELS, type Access };

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
 * Makes a route handler: `export const POST = apiRoute({ access: "operator" }, async (req, ctx, who) => ...)`.
 * `who` is the caller the guard found (its principal is null only on public routes). The handler
 * never needs a try/catch for errors a user can meet: throw a DomainError.
 */
export function apiRoute<C = unknown>(opts: RouteOptions, fn: (req: Request, ctx: C, who: Guarded) => Promise<Response> | Response): ApiRouteHandler<C> {
  const handler = async (req: Request, ctx?: C): Promise<Response> => {
    let who: Guarded;
    try {
      who = guardRequest(req, opts.access);
    } catch (err) {
      return errorResponse(err, req);
    }
    return runAs(who.actor, async () => {
      try {
        return await fn(req, ctx as C, who);
      } catch (err) {
        return errorResponse(err, req);
      }
    });
  };
  return Object.assign(handler, { access: opts.access });
}

/** The access a route handler declared, or undefined when it was not made with `apiRoute`. */
export function routeAccess(handler: unknown): Access | undefined {
  const access = (handler as { access?: unknown } | null)?.access;
  return typeof handler === "function" && ACCESS_LEVELS.includes(access as Access) ? (access as Access) : undefined;
}

/**
 * Reads a request body of at most MAX_BODY_BYTES as text, stopping (and cancelling the upload) as
 * soon as it is over: a large body is refused without being held in memory. Throws `body_too_large`.
 */
export async function readBodyText(req: Request, limit = MAX_BODY_BYTES): Promise<string> {
  if (!req.body) return "";
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Parses a JSON request body with a schema. Throws DomainError `unsupported_media_type` unless it is
 * sent as application/json, `body_too_large`, `bad_json`, `bad_request` for a field given twice in
 * one object (JSON.parse would keep the last in silence), or the schema's ZodError.
 */
export async function readJson<T>(req: Request, schema: z.ZodType<T>): Promise<T> {
  if (!/^application\/json(\s*;|$)/i.test(req.headers.get("content-type") ?? ""))
    throw new DomainError("unsupported_media_type", "Send the request body as JSON (Content-Type: application/json). Nothing changed.");
  const text = await readBodyText(req);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new DomainError("bad_json", "The request body is not valid JSON.");
  }
  const twice = duplicateKey(text);
  if (twice !== null) throw new DomainError("bad_request", `body: the field "${twice.slice(0, 100)}" is given more than once; give it once. Nothing changed.`);
  return schema.parse(raw);
}

/**
 * Parses the query string with a schema. Throws DomainError `bad_request` for a parameter given more
 * than once (`?limit=1&limit=2`: which one was meant?), or the schema's ZodError (answered 400).
 */
export function readQuery<T>(req: Request, schema: z.ZodType<T>): T {
  const params = new URL(req.url).searchParams;
  for (const name of new Set(params.keys()))
    if (params.getAll(name).length > 1)
      throw new DomainError("bad_request", `The query parameter "${name.slice(0, 100)}" is given more than once; give it once. Nothing changed.`);
  return schema.parse(Object.fromEntries(params));
}
