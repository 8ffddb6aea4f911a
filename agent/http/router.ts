import http from "node:http";
import { timingSafeEqual, createHash } from "node:crypto";
import type { Logger } from "pino";
import { z, type ZodType } from "zod";

/** An error a handler throws to answer with a 4xx/5xx `{ code, message }` body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export interface RequestContext<B = unknown, Q = unknown> {
  params: Record<string, string>;
  query: Q;
  body: B;
  req: http.IncomingMessage;
  log: Logger;
}

/** A handler's answer with an explicit status; a handler may also return a plain body (200). */
export class Reply {
  constructor(
    readonly status: number,
    readonly body?: unknown,
  ) {}
}

/** Answers with `status` and a JSON `body`, e.g. `reply(202, { jobId })`. */
export function reply(status: number, body?: unknown): Reply {
  return new Reply(status, body);
}

export interface RouteDef<B = unknown, Q = unknown> {
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** Path with `:param` segments, e.g. `/jobs/:id`. */
  path: string;
  /** Bearer token required (default true). Only the bare liveness check opts out. */
  auth?: boolean;
  body?: ZodType<B>;
  query?: ZodType<Q>;
  /** Validates the response body in tests and development; a mismatch is a 500 (our bug, not the caller's). */
  response?: ZodType;
  handler(ctx: RequestContext<B, Q>): unknown;
}

interface CompiledRoute {
  def: RouteDef<any, any>;
  re: RegExp;
  keys: string[];
}

const MAX_BODY = 1024 * 1024;

/** Compares secrets in constant time (hashing first so lengths do not leak either). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}

/**
 * A small JSON router over node:http: bearer auth, zod-validated bodies/queries, one error handler
 * that answers `{ code, message }` and hides details of unexpected errors.
 */
export class Router {
  private routes: CompiledRoute[] = [];
  constructor(
    private readonly opts: { token?: string; log: Logger; validateResponses?: boolean },
  ) {}

  add<B, Q>(def: RouteDef<B, Q>): void {
    const keys: string[] = [];
    const pattern = def.path.replace(/:([A-Za-z_]+)/g, (_, k) => {
      keys.push(k);
      return "([^/]+)";
    });
    this.routes.push({ def, re: new RegExp(`^${pattern}/?$`), keys });
  }

  /** The request listener to hand to http.createServer. */
  readonly listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    this.handle(req, res).catch((err) => {
      this.opts.log.error({ err }, "unhandled error in request handler");
      if (!res.headersSent) send(res, 500, { code: "internal", message: "Internal error in the agent; see its log." });
      else res.destroy();
    });
  };

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://agent");
    const log = this.opts.log.child({ method: req.method, path: url.pathname });
    const pathMatches = this.routes.filter((r) => r.re.test(url.pathname));
    if (pathMatches.length === 0) return send(res, 404, { code: "not_found", message: `No such endpoint: ${req.method} ${url.pathname}` });
    const route = pathMatches.find((r) => r.def.method === req.method);
    if (!route) return send(res, 405, { code: "method_not_allowed", message: `${req.method} is not allowed on ${url.pathname}` });

    if (route.def.auth !== false) {
      const header = req.headers.authorization ?? "";
      const m = /^Bearer\s+(.+)$/i.exec(header);
      if (!this.opts.token || !m || !safeEqual(m[1].trim(), this.opts.token)) {
        res.setHeader("WWW-Authenticate", 'Bearer realm="lifeboat-agent"');
        return send(res, 401, { code: "unauthorized", message: "Missing or wrong bearer token. Send Authorization: Bearer <LIFEBOAT_AGENT_TOKEN>." });
      }
    }

    const m = route.re.exec(url.pathname)!;
    const params: Record<string, string> = {};
    route.keys.forEach((k, i) => (params[k] = decodeURIComponent(m[i + 1])));

    let query: unknown = Object.fromEntries(url.searchParams);
    if (route.def.query) {
      const q = route.def.query.safeParse(query);
      if (!q.success) return send(res, 400, { code: "bad_query", message: describeIssues("query", q.error) });
      query = q.data;
    }

    let body: unknown = undefined;
    if (route.def.body) {
      let raw: string;
      try {
        raw = await readBody(req);
      } catch (e) {
        return send(res, 413, { code: "body_too_large", message: (e as Error).message });
      }
      let json: unknown;
      try {
        json = raw.length ? JSON.parse(raw) : {};
      } catch {
        return send(res, 400, { code: "bad_json", message: "The request body is not valid JSON." });
      }
      const b = route.def.body.safeParse(json);
      if (!b.success) return send(res, 400, { code: "bad_request", message: describeIssues("body", b.error) });
      body = b.data;
    }

    try {
      const out = await route.def.handler({ params, query, body, req, log });
      const answer = out instanceof Reply ? out : new Reply(200, out);
      const status = answer.status;
      if (this.opts.validateResponses && route.def.response && status < 300 && answer.body !== undefined) {
        const r = route.def.response.safeParse(answer.body);
        if (!r.success) {
          log.error({ issues: r.error.issues }, "response does not match its schema");
          return send(res, 500, { code: "internal", message: "The agent produced an invalid response; see its log." });
        }
      }
      send(res, status, answer.body);
    } catch (err) {
      if (err instanceof HttpError) return send(res, err.status, { code: err.code, message: err.message, ...err.extra });
      if (err instanceof z.ZodError) return send(res, 400, { code: "bad_request", message: describeIssues("request", err) });
      log.error({ err }, "request failed");
      send(res, 500, { code: "internal", message: "Internal error in the agent; see its log." });
    }
  }
}

function describeIssues(where: string, err: z.ZodError): string {
  return `Invalid ${where}: ${err.issues.map((i) => `${i.path.length ? i.path.join(".") + ": " : ""}${i.message}`).join("; ")}`;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error(`Request body larger than ${MAX_BODY} bytes.`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export function send(res: http.ServerResponse, status: number, body: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
