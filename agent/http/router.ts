import http from "node:http";
import type { Duplex } from "node:stream";
import { timingSafeEqual, createHash } from "node:crypto";
import type { Logger } from "pino";
import { z, type ZodType } from "zod";
import { DomainError, describeIssues, hasErrorCode, isDomainError, toErrorAnswer, type ApiErrorBody } from "../../lib/contracts/errors";
import { duplicateKey } from "../../lib/contracts/json-text";
import { clientErrorAnswer } from "../../lib/contracts/client-error";

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
    /** Set for a text answer (e.g. Prometheus metrics): `body` is sent as it is, not as JSON. */
    readonly contentType?: string,
  ) {}
}

/** Answers with `status` and a JSON `body`, e.g. `reply(202, { jobId })`. */
export function reply(status: number, body?: unknown): Reply {
  return new Reply(status, body);
}

/** Answers 200 with `text` as it is, in `contentType` (e.g. Prometheus's text format). */
export function textReply(text: string, contentType: string): Reply {
  return new Reply(200, text, contentType);
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
 * A small JSON router over node:http: bearer auth, zod-validated bodies/queries, and the agent's one
 * error boundary. Handlers and domain code throw; the router answers: a DomainError
 * (lib/contracts/errors.ts) with its status and `{ code, message, ...details }`, a zod error with 400
 * bad_request, anything else with 500 internal and its details only in the log.
 */
export class Router {
  private routes: CompiledRoute[] = [];
  constructor(private readonly opts: { token?: string; log: Logger; validateResponses?: boolean }) {}

  add<B, Q>(def: RouteDef<B, Q>): void {
    const keys: string[] = [];
    const pattern = def.path.replace(/:([A-Za-z_]+)/g, (_, k) => {
      keys.push(k);
      return "([^/]+)";
    });
    this.routes.push({ def, re: new RegExp(`^${pattern}/?$`), keys });
  }

  /** Every route added, as method, path and whether it needs the token (for the test that enumerates them). */
  list(): { method: RouteDef["method"]; path: string; auth: boolean }[] {
    return this.routes.map((r) => ({ method: r.def.method, path: r.def.path, auth: r.def.auth !== false }));
  }

  /**
   * The request listener to hand to http.createServer. Nothing it does may throw out of it: an
   * exception there is uncaught and ends the agent, so every error, synchronous or not, goes to the
   * one error answer (`fail`).
   */
  readonly listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    let log = this.opts.log;
    try {
      log = log.child({ method: req.method });
      // Parsed here, inside the guard: a target such as `//%/` is not a URL and must be a 400, not a crash.
      const url = requestUrl(req);
      log = log.child({ path: url.pathname });
      this.handle(req, res, url, log).catch((err: unknown) => fail(err, req, res, log));
    } catch (err) {
      fail(err, req, res, log);
    }
  };

  /**
   * For a request that sent `Expect: 100-continue` (curl does for large bodies): Node would otherwise
   * send "100 Continue" before the router sees the head, and the client would upload a body the agent
   * is about to refuse (over the limit, wrong token, no such route). The router says "continue" only
   * when it reads the body.
   */
  readonly continueListener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    awaitingContinue.set(req, res);
    this.listener(req, res);
  };

  /**
   * Serves this router on `server`: its requests, those that wait for "100 Continue", and those
   * Node.js's parser refuses before the router sees them (a URL over 16 KiB: 431), answered in the
   * error model too.
   */
  bindTo(server: http.Server): void {
    server.on("request", this.listener);
    server.on("checkContinue", this.continueListener);
    server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (err.code === "ECONNRESET" || !socket.writable) socket.destroy();
      else socket.end(clientErrorAnswer(err.code, { "cache-control": "no-store" }));
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL, log: Logger): Promise<void> {
    // A body declared over the limit is refused before anything reads it, on every route, as the
    // dashboard's front does (lib/http/dashboard-server.ts).
    if (Number(req.headers["content-length"] ?? 0) > MAX_BODY) throw tooLarge();
    const pathMatches = this.routes.filter((r) => r.re.test(url.pathname));
    if (pathMatches.length === 0) throw new DomainError("not_found", `No such endpoint: ${req.method} ${url.pathname}`);
    // HEAD is GET without the body (Node sends no body for it): uptime checks and probes use it.
    const route = pathMatches.find((r) => r.def.method === req.method) ?? (req.method === "HEAD" ? pathMatches.find((r) => r.def.method === "GET") : undefined);
    if (!route) {
      // RFC 9110: a 405 names the methods the target allows.
      const allowed = [...new Set(pathMatches.flatMap((r) => (r.def.method === "GET" ? ["GET", "HEAD"] : [r.def.method])))];
      res.setHeader("Allow", allowed.join(", "));
      throw new DomainError("method_not_allowed", `${req.method} is not allowed on ${url.pathname}; it allows ${allowed.join(", ")}.`);
    }

    if (route.def.auth !== false) {
      const header = req.headers.authorization ?? "";
      const m = /^Bearer\s+(.+)$/i.exec(header);
      if (!this.opts.token || !m || !safeEqual(m[1].trim(), this.opts.token)) {
        res.setHeader("WWW-Authenticate", 'Bearer realm="lifeboat-agent"');
        throw new DomainError("unauthorized", "Missing or wrong bearer token. Send Authorization: Bearer <LIFEBOAT_AGENT_TOKEN>.");
      }
    }

    const m = route.re.exec(url.pathname)!;
    const params: Record<string, string> = {};
    route.keys.forEach((k, i) => (params[k] = decodeParam(k, m[i + 1])));

    let query: unknown = Object.fromEntries(url.searchParams);
    if (route.def.query) {
      // `?segments=1&segments=2`: which one was meant? Refused rather than the last one taken in silence.
      for (const name of new Set(url.searchParams.keys()))
        if (url.searchParams.getAll(name).length > 1)
          throw new DomainError("bad_query", `Invalid query: ${name.slice(0, 100)}: given more than once; give it once.`);
      const q = route.def.query.safeParse(query);
      if (!q.success) throw new DomainError("bad_query", describeIssues("query", q.error));
      query = q.data;
    }

    let body: unknown = undefined;
    if (!route.def.body) discardBody(req);
    else {
      awaitingContinue.get(req)?.writeContinue();
      const raw = await readBody(req);
      // A body in another type (`curl -d` sends a form's) is refused rather than read as JSON anyway.
      const type = req.headers["content-type"];
      if (raw.length && type !== undefined && !/^application\/json(\s*;|$)/i.test(type))
        throw new DomainError("unsupported_media_type", "Send the request body as JSON (Content-Type: application/json). Nothing changed.");
      let json: unknown;
      try {
        json = raw.length ? JSON.parse(raw) : {};
      } catch {
        throw new DomainError("bad_json", "The request body is not valid JSON.");
      }
      // JSON.parse keeps the last of a key given twice in silence: which one was meant?
      const twice = duplicateKey(raw);
      if (twice !== null) throw new DomainError("bad_request", `Invalid body: ${twice.slice(0, 100)}: given more than once; give it once.`);
      const b = route.def.body.safeParse(json);
      if (!b.success) throw new DomainError("bad_request", describeIssues("body", b.error));
      body = b.data;
    }

    const out = await route.def.handler({ params, query, body, req, log });
    const answer = out instanceof Reply ? out : new Reply(200, out);
    if (this.opts.validateResponses && route.def.response && answer.status < 300 && answer.body !== undefined) {
      const r = route.def.response.safeParse(answer.body);
      if (!r.success) {
        log.error({ issues: r.error.issues }, "response does not match its schema");
        return send(res, 500, { code: "internal", message: "The agent produced an invalid response; see its log." });
      }
    }
    if (answer.contentType !== undefined && typeof answer.body === "string") {
      res.writeHead(answer.status, { "content-type": answer.contentType, "cache-control": "no-store", "content-length": Buffer.byteLength(answer.body) });
      res.end(answer.body);
      return;
    }
    send(res, answer.status, answer.body);
  }
}

/** The one translation of an error into an answer (see Router). */
function errorAnswer(err: unknown): { status: number; body: ApiErrorBody } {
  if (err instanceof z.ZodError) return { status: 400, body: { code: "bad_request", message: describeIssues("request", err) } };
  return toErrorAnswer(err, "Internal error in the agent; see its log.");
}

/** Answers a request that failed with `err` (see Router); never throws. */
function fail(err: unknown, req: http.IncomingMessage, res: http.ServerResponse, log: Logger): void {
  try {
    const { status, body } = errorAnswer(err);
    if (!isDomainError(err) && !(err instanceof z.ZodError)) log.error({ err }, "request failed");
    if (res.headersSent) res.destroy();
    else if (hasErrorCode(err, "body_too_large")) answerAndClose(req, res, status, body);
    else {
      if (req.listenerCount("data") === 0) discardBody(req);
      send(res, status, body);
    }
  } catch (inner) {
    // Not even the error answer could be made (e.g. details that are not JSON): drop the connection, keep the agent.
    try {
      log.error({ err: inner, cause: err }, "could not answer a failed request");
    } catch {
      // the log failed too; dropping the connection is all that is left
    }
    res.destroy();
  }
}

/** The request's target as a URL; a target that is not one (`//%/`, `//a:99999/`) is 400 bad_request. */
function requestUrl(req: http.IncomingMessage): URL {
  try {
    return new URL(req.url ?? "/", "http://agent");
  } catch {
    throw new DomainError("bad_request", "The request target is not a valid URL path.");
  }
}

/** A `:param` path segment, percent-decoded; a malformed escape (`%E0%A4%A`) is 400 bad_request. */
function decodeParam(name: string, raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new DomainError("bad_request", `Invalid path: ${name}: not valid percent-encoding.`);
  }
}

function tooLarge(): DomainError {
  return new DomainError("body_too_large", `Request body larger than ${MAX_BODY} bytes.`);
}

/** Requests waiting for "100 Continue", and the answer to send it on (see Router.continueListener). */
const awaitingContinue = new WeakMap<http.IncomingMessage, http.ServerResponse>();

/**
 * Drops the body of a request whose route reads none (or that failed before reading it). Node would
 * drop it too, but without a limit: a client that never stops sending kept the connection until the
 * server's 300 s request timeout. Past MAX_BODY the connection is closed.
 */
function discardBody(req: http.IncomingMessage): void {
  let size = 0;
  req.on("data", (c: Buffer) => {
    size += c.length;
    if (size > MAX_BODY) req.socket.destroy();
  });
}

/** Reads the body as text; past MAX_BODY it stops keeping what arrives and rejects with body_too_large. */
function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.off("data", onData);
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    };
    req.on("data", onData);
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** How long a refused body may still arrive after the answer before the connection is closed anyway. */
const LINGER_MS = 2000;

/**
 * Answers with `connection: close` while the client may still be sending a body the agent will not
 * read. Closing the socket at once would make the kernel reset the connection (there is unread data),
 * and a reset can wipe the answer on the client's side before it is read. So: send the answer,
 * then drop what still arrives until the client stops sending or LINGER_MS pass, then close.
 */
function answerAndClose(req: http.IncomingMessage, res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    "content-length": Buffer.byteLength(text),
    connection: "close",
  });
  res.write(text);
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    res.end();
  };
  const timer = setTimeout(end, LINGER_MS);
  req.once("end", end);
  res.once("close", end);
  req.resume();
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
