// The dashboard's HTTP server: Next.js behind a thin node:http front, so the app learns the real
// client address (Next.js keeps a client-sent X-Forwarded-For as it is, which would let anyone claim
// to be a trusted proxy or dodge the sign-in limits), a declared body over 1 MiB is refused before
// anything reads it, a path whose percent escape does not decode is refused before Next.js (which
// decodes dynamic segments before any route code runs) answers it with a bare 500, and an answer
// given while the body is still arriving (a route's 413 for a chunked body over 1 MiB) closes the
// connection without losing the answer to a reset. `npm start` runs it; so do the browser tests; a
// release runs it through lib/http/release-server.ts (bundled as dashboard/lifeboat-dashboard.mjs).
//
//   node --import tsx lib/http/dashboard-server.ts --port 3000 --host 127.0.0.1
import http from "node:http";
import type net from "node:net";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import next from "next";
import type { Duplex } from "node:stream";
import { clientErrorAnswer } from "../contracts/client-error";
import { dashboardDatabaseProblem } from "./data-dir";
import { FRONT_HEADERS } from "./front-headers";
import { PEER_HEADER, PEER_MARK } from "./peer";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const MAX_DECLARED_BODY = 1024 * 1024;
/** How long a body the dashboard will not read may still arrive after the answer before the connection is closed anyway. */
const LINGER_MS = 2000;
const TOO_LARGE = "The request body is over 1 MiB; the dashboard reads no more than that. Nothing changed.";
const BAD_PATH = "The request path is not valid: a percent escape does not decode.";
/** The methods Next.js's route handlers take; it answered any other (TRACE, PROPFIND, …) with a bare 500. */
const ROUTE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]);

export interface DashboardServer {
  server: http.Server;
  url: string;
  close(): Promise<void>;
}

/** The request target's path (an absolute-form target's too), without its query. */
function targetPath(target: string): string {
  return target.replace(/^[a-z][a-z\d+.-]*:\/\/[^/?#]*/i, "").replace(/[?#].*$/s, "");
}

/** Whether every percent escape in `p` decodes (as Next.js decodes each dynamic segment: decodeURIComponent). */
function decodes(p: string): boolean {
  try {
    decodeURIComponent(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Waits, once an answer is written, for the client to stop sending the body nobody will read: until
 * the body has all arrived, `LINGER_MS` pass or the connection closes, dropping what arrives; then
 * `done`. Closing at once would make the kernel reset the connection (there is unread data), and the
 * reset can wipe the answer on the client's side before it is read.
 */
function linger(req: http.IncomingMessage, socket: net.Socket | null, res: http.ServerResponse, done: () => void): void {
  // Node.js's own way to drop a body nobody reads (IncomingMessage._dump, which it runs only after
  // the answer): its HTTP parser then drops the rest instead of pausing the socket until someone
  // reads it. The request stream may already be destroyed (a route that stopped reading it at the
  // limit cancels it), so the flag is set here rather than through resume(), and the socket resumed.
  (req as { _dumped?: boolean })._dumped = true;
  req.removeAllListeners("data");
  socket?.resume();
  const until = Date.now() + LINGER_MS;
  let over = false;
  const finish = () => {
    if (over) return;
    over = true;
    clearInterval(poll);
    res.off("close", finish);
    done();
  };
  // `complete` is set by the parser when the body's end arrives, whether or not the stream still lives.
  const poll = setInterval(() => {
    if (req.complete || !socket || socket.destroyed || Date.now() >= until) finish();
  }, 10);
  res.once("close", finish);
}

/**
 * Answers the front's own refusals: `{ code, message }` JSON (the API's error model) or, for a page,
 * the message as plain text; with connection: close (and, through closeIfBodyUnread, only once the
 * client has stopped sending).
 */
function refuse(res: http.ServerResponse, status: number, code: string, message: string, json: boolean): void {
  const body = json ? JSON.stringify({ code, message }) : `${message}\n`;
  res.writeHead(status, {
    ...FRONT_HEADERS,
    "content-type": json ? "application/json; charset=utf-8" : "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    connection: "close",
  });
  res.end(body);
}

/**
 * Makes an answer that starts while the request body is still arriving (a route refused the body,
 * e.g. readBodyText's 413 past 1 MiB without a content-length, the guard's 401 before reading it, or
 * the front's own refusals) carry connection: close, and ends it only once the client has stopped
 * sending (linger). Without this Node.js kept the connection alive with the rest of the body unread
 * and no one reading it, then reset it, and the client often got ECONNRESET instead of the answer.
 */
function closeIfBodyUnread(req: http.IncomingMessage, res: http.ServerResponse): void {
  // A destroyed request (a route cancelled its body) no longer knows its socket.
  const socket = req.socket;
  type Method = (this: http.ServerResponse, ...args: unknown[]) => unknown;
  const writeHead = res.writeHead as Method;
  const end = res.end as Method;
  const write = res.write as Method;
  let closing = false;
  const markClose = () => {
    if (req.complete || res.headersSent) return;
    res.setHeader("connection", "close");
    closing = true;
  };
  res.writeHead = function (this: http.ServerResponse, ...args: unknown[]) {
    markClose();
    return writeHead.apply(this, args);
  } as typeof res.writeHead;
  res.end = function (this: http.ServerResponse, ...args: unknown[]) {
    markClose();
    if (!closing || req.complete) return end.apply(this, args);
    const cb = typeof args[args.length - 1] === "function" ? args.pop() : undefined;
    if (args[0] != null) write.apply(this, args);
    linger(req, socket, res, () => end.apply(this, cb ? [cb] : []));
    return this;
  } as typeof res.end;
}

/** Answers a request that failed in the front or in Next.js's handler, or drops its connection when the answer had begun. */
function failed(req: http.IncomingMessage, res: http.ServerResponse, err: unknown): void {
  try {
    process.stderr.write(`dashboard: ${req.method} ${targetPath(req.url ?? "")} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    if (res.headersSent) res.destroy();
    else refuse(res, 500, "internal", "Internal error in the dashboard server; see its log.", isApi(targetPath(req.url ?? "/")));
  } catch {
    res.destroy();
  }
}

/**
 * The methods an API path takes, as Next.js's own answer to OPTIONS names them (its `Allow`, made
 * from the methods the route exports), asked over loopback; null when nothing answers to the path.
 */
function allowedMethods(server: http.Server, p: string): Promise<string | null> {
  const addr = server.address() as net.AddressInfo;
  const host = addr.address === "0.0.0.0" || addr.address === "::" ? "127.0.0.1" : addr.address;
  return new Promise((resolve) => {
    try {
      const ask = http.request({ host, port: addr.port, method: "OPTIONS", path: p, timeout: 5000 }, (answer) => {
        answer.resume();
        const allow = answer.headers.allow;
        resolve(answer.statusCode === 204 && allow ? allow : null);
      });
      ask.on("timeout", () => ask.destroy());
      ask.on("error", () => resolve(null));
      ask.end();
    } catch {
      // A path http.request will not send (it takes no raw non-ASCII): asked nothing, so no methods known.
      resolve(null);
    }
  });
}

/**
 * An API answer in the error model when Next.js makes it without a route handler: a method the route
 * does not export (Next.js: a bare 405 with no body and no `Allow`) becomes 405 `method_not_allowed`
 * with the `Allow` header, and an API path no route serves (Next.js: its HTML 404 page) 404
 * `not_found`. `res.end` is held until the answer is known; a handler's own answers pass untouched.
 */
function apiErrorModel(server: http.Server, req: http.IncomingMessage, res: http.ServerResponse, p: string): void {
  type Method = (this: http.ServerResponse, ...args: unknown[]) => unknown;
  const end = res.end as Method;
  const write = res.write as Method;
  const writeHead = res.writeHead as Method;
  const replaced = () =>
    !res.headersSent &&
    ((res.statusCode === 405 && !res.hasHeader("content-type")) ||
      (res.statusCode === 404 && /^text\/html/i.test(String(res.getHeader("content-type") ?? ""))));
  let held = false;
  res.writeHead = function (this: http.ServerResponse, ...args: unknown[]) {
    if (typeof args[0] === "number") this.statusCode = args[0];
    if (replaced()) {
      held = true;
      return this;
    }
    return writeHead.apply(this, args);
  } as typeof res.writeHead;
  res.write = function (this: http.ServerResponse, ...args: unknown[]) {
    if (held || replaced()) return true;
    return write.apply(this, args);
  } as typeof res.write;
  res.end = function (this: http.ServerResponse, ...args: unknown[]) {
    if (!held && !replaced()) return end.apply(this, args);
    // No route for the path (OPTIONS names no methods for it) is a 404 too. An OPTIONS answer never
    // asks OPTIONS again (no route answers it with a bare 405, and asking would not end).
    const options = req.method === "OPTIONS";
    void (res.statusCode === 404 || options ? Promise.resolve(null) : allowedMethods(server, p))
      .then((allow) => {
        const notFound = res.statusCode === 404 || (!allow && !options);
        const body = JSON.stringify(
          notFound
            ? { code: "not_found", message: `No such endpoint: ${req.method} ${p.slice(0, 200)}` }
            : { code: "method_not_allowed", message: `${req.method} is not allowed on ${p.slice(0, 200)}${allow ? `; it allows ${allow}` : ""}.` },
        );
        for (const name of res.getHeaderNames()) res.removeHeader(name);
        writeHead.call(res, notFound ? 404 : 405, {
          ...FRONT_HEADERS,
          ...(allow ? { allow } : {}),
          "content-type": "application/json; charset=utf-8",
          "content-length": Buffer.byteLength(body),
        });
        end.call(res, body);
      })
      .catch(() => res.destroy());
    return this;
  } as typeof res.end;
}

/** Whether a path is the API's (answered in its JSON error model) rather than a page's. */
function isApi(p: string): boolean {
  return /^\/+api(\/|$)/.test(p);
}

export interface DashboardServerOptions {
  port: number;
  host: string;
  /** The app's directory: the checkout (default), or a release's standalone `dashboard/`. */
  dir?: string;
  /** Next.js's resolved configuration, as a standalone build records it (no next.config.js to load there). */
  conf?: Record<string, unknown>;
}

/** Prepares the built dashboard (LIFEBOAT_NEXT_DIST) and listens on `host:port`. Rejects when the port is taken or there is no build. */
export async function startDashboardServer(opts: DashboardServerOptions): Promise<DashboardServer> {
  (globalThis as Record<symbol, unknown>)[PEER_MARK] = true;
  // Next.js would fail in its start hook with a stack trace, and the front would listen without answering.
  const dbProblem = dashboardDatabaseProblem(path.resolve(process.env.LIFEBOAT_DATA_DIR || "./data"));
  if (dbProblem) throw new Error(dbProblem);
  // A missing Host is answered below (in the error model) rather than by Node.js's bare 400.
  const server = http.createServer({ requireHostHeader: false });
  const app = next({ dev: false, dir: opts.dir ?? ROOT, conf: opts.conf as never, hostname: opts.host, port: opts.port, httpServer: server });
  const handle = app.getRequestHandler();
  await app.prepare();
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    try {
      req.headers[PEER_HEADER] = req.socket.remoteAddress ?? "";
      closeIfBodyUnread(req, res);
      // An absolute-form target (`GET http://host/path`, as proxies are sent) names the request's host
      // (RFC 9112 §3.2.2): the guard's host check judges that one, and Next.js gets the path (it
      // answered with a redirect to whatever host the target named).
      const absolute = /^[a-z][a-z\d+.-]*:\/\/([^/?#]*)/i.exec(req.url ?? "");
      if (absolute) {
        req.headers.host = absolute[1];
        req.url = (req.url ?? "").slice(absolute[0].length) || "/";
        if (!req.url.startsWith("/")) req.url = "/" + req.url;
      }
      // RFC 9112 §3.2: an HTTP/1.1 request without a Host, or any with two (Node.js keeps the first,
      // which the guard's host check would judge while a proxy in front may have routed by another), is 400.
      const hosts = req.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === "host").length;
      if (hosts > 1 || (hosts === 0 && req.httpVersion !== "1.0"))
        return refuse(res, 400, "bad_request", "The request must carry exactly one Host header.", isApi(targetPath(req.url ?? "/")));
      // `OPTIONS *` asks about the server, not a path (Next.js answered it, and any other method on `*`, with a bare 500).
      if (req.url === "*") {
        if (req.method !== "OPTIONS") return refuse(res, 400, "bad_request", "The request target `*` is for OPTIONS only; send a path.", true);
        res.writeHead(204, { ...FRONT_HEADERS, allow: [...ROUTE_METHODS].join(", ") });
        return res.end();
      }
      const p = targetPath(req.url ?? "/");
      // Before anything else, the guard's host and caller checks included: such a path names nothing,
      // so refusing it tells an unknown caller nothing, and Next.js would answer it with a bare 500.
      if (!decodes(p)) return refuse(res, 400, "bad_request", BAD_PATH, isApi(p));
      if (Number(req.headers["content-length"] ?? 0) > MAX_DECLARED_BODY) return refuse(res, 413, "body_too_large", TOO_LARGE, isApi(p));
      if (isApi(p)) {
        apiErrorModel(server, req, res, p);
        // Next.js would fail on a method its handlers do not take; as a method the route does not export, it is a 405.
        if (!ROUTE_METHODS.has(req.method ?? "")) {
          res.statusCode = 405;
          return res.end();
        }
      } else if (!ROUTE_METHODS.has(req.method ?? "")) {
        res.setHeader("allow", "GET, HEAD");
        return refuse(res, 405, "method_not_allowed", `${req.method} is not allowed on a page; it allows GET, HEAD.`, false);
      }
      handle(req, res).catch((err: unknown) => failed(req, res, err));
    } catch (err) {
      failed(req, res, err);
    }
  };
  server.on("request", onRequest);
  // A request Node.js's parser refuses (a URL or headers over 16 KiB: 431) in the error model, not a bare status line.
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === "ECONNRESET" || !socket.writable) socket.destroy();
    else socket.end(clientErrorAnswer(err.code, FRONT_HEADERS));
  });
  // Node closes an idle kept-alive connection after 5 s; a client or reverse proxy that reuses it just
  // then gets a reset (nginx keeps upstream connections 60 s, Playwright's request context longer
  // than 5 s). Longer than those, so the client closes first.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  // `Expect: 100-continue` (curl sends it for large bodies): without this listener Node says "100
  // Continue" before the front sees the head, and the client uploads a body the front then refuses.
  // A body declared over the limit gets the 413 instead; any other request is told to go on.
  server.on("checkContinue", (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!(Number(req.headers["content-length"] ?? 0) > MAX_DECLARED_BODY)) res.writeContinue();
    onRequest(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as { port: number };
  const shown = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  return {
    server,
    url: `http://${shown}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

// Run as a script — but not when bundled into the release's entry (import.meta.url is then that bundle's).
const isScript = fileURLToPath(import.meta.url).endsWith(path.join("lib", "http", "dashboard-server.ts"));
if (isScript && process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const port = Number(arg("--port", process.env.PORT || "3000"));
  const host = arg("--host", process.env.LIFEBOAT_HOST || "127.0.0.1");
  startDashboardServer({ port, host }).then(
    (s) => {
      process.stdout.write(`dashboard listening on ${s.url}\n`);
      const stop = () => void s.close().then(() => process.exit(0));
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
    },
    (err: unknown) => {
      process.stderr.write(`The dashboard could not start: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
