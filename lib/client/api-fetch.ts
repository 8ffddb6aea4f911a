import type { z } from "zod";
import { ApiErrorBody } from "../contracts/errors";

/**
 * The browser's one way to call the dashboard's API, and its one error type. Every answer is
 * validated with a zod schema (the server's contract), every error answer becomes an
 * ApiRequestError carrying the server's `code`, sentence and details. Browser-safe: no server
 * imports here.
 */

/** A failed call to the dashboard's API. `status` 0 with code `offline`: the server did not answer. */
export class ApiRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The fields the server sent beside code and message (e.g. `runId`, `hint`, `cluster`). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "ApiRequestError";
  }
}

// Every query and mutation of the dashboard fetches through apiFetch, so this is their error type.
declare module "@tanstack/react-query" {
  interface Register {
    defaultError: ApiRequestError;
  }
}

/**
 * Calls `url` and validates the JSON answer with `schema`. A body, and any state-changing request,
 * is sent as JSON. A 401 (the session ended) takes the page to the sign-in page. Rejects with
 * ApiRequestError; an abort through `init.signal` rejects as fetch does.
 */
export async function apiFetch<T>(url: string, schema: z.ZodType<T>, init: RequestInit = {}): Promise<T> {
  let res: Response;
  // The server refuses a state-changing request that is not JSON (a form on another site cannot send JSON), body or not.
  const method = (init.method ?? "GET").toUpperCase();
  const json = init.body !== undefined || (method !== "GET" && method !== "HEAD");
  try {
    res = await fetch(url, { cache: "no-store", ...init, headers: { ...(json ? { "content-type": "application/json" } : {}), ...init.headers } });
  } catch (e) {
    // A query that was cancelled (unmounted, superseded) is not the server's fault.
    if (init.signal?.aborted) throw e;
    throw new ApiRequestError(0, "offline", "The dashboard server did not answer. Is it still running?");
  }
  const answer: unknown = await res.json().catch(() => undefined);
  if (res.status === 401 && typeof window !== "undefined" && !url.startsWith("/api/auth/login")) {
    // The session ended (idle, expired, signed out elsewhere): sign in again and come back here.
    window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
  }
  if (!res.ok) {
    const body = ApiErrorBody.safeParse(answer);
    if (!body.success) throw new ApiRequestError(res.status, "error", `The dashboard answered ${res.status}.`);
    const { code, message, ...details } = body.data;
    throw new ApiRequestError(res.status, code, message, details);
  }
  const parsed = schema.safeParse(answer);
  if (!parsed.success)
    throw new ApiRequestError(res.status, "bad_response", "The dashboard answered in an unexpected format. Reload the page: the server may have been updated.");
  return parsed.data;
}

/** A JSON POST (or another method) for apiFetch. */
export function jsonBody(body?: unknown, method = "POST"): RequestInit {
  return { method, body: body === undefined ? undefined : JSON.stringify(body) };
}
