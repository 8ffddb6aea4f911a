import { NextResponse } from "next/server";
import { z } from "zod";
import { logger } from "../log";

/** An error a route handler throws to answer `{ code, message }` with a status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

const log = logger("api");

/**
 * Wraps a route handler: ApiError → its status and `{ code, message }`; zod errors → 400; anything
 * else → 500 with a generic message (details only in the server log).
 */
export function handle<A extends unknown[]>(fn: (...args: A) => Promise<Response> | Response) {
  return async (...args: A): Promise<Response> => {
    try {
      return await fn(...args);
    } catch (err) {
      if (err instanceof ApiError) return NextResponse.json({ code: err.code, message: err.message, ...err.extra }, { status: err.status });
      if (err instanceof z.ZodError)
        return NextResponse.json({ code: "bad_request", message: err.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ") }, { status: 400 });
      log.error({ err }, "route handler failed");
      return NextResponse.json({ code: "internal", message: "Internal error in the dashboard server; see its log." }, { status: 500 });
    }
  };
}

/** Parses a JSON request body with a schema; throws ApiError 400 on bad JSON. */
export async function readJson<T>(req: Request, schema: z.ZodType<T>): Promise<T> {
  let raw: unknown;
  try {
    raw = await req.json();
  } catch {
    throw new ApiError(400, "bad_json", "The request body is not valid JSON.");
  }
  return schema.parse(raw);
}
