// The dashboard's HTTP server: Next.js behind a thin node:http front, so the app learns the real
// client address (Next.js keeps a client-sent X-Forwarded-For as it is, which would let anyone claim
// to be a trusted proxy or dodge the sign-in limits), a declared body over 1 MiB is refused before
// anything reads it, and a path whose percent escape does not decode is refused before Next.js (which
// decodes dynamic segments before any route code runs) answers it with a bare 500. `npm start` runs
// it; so do the browser tests; a release runs it through lib/http/release-server.ts (bundled as
// dashboard/lifeboat-dashboard.mjs).
//
//   node --import tsx lib/http/dashboard-server.ts --port 3000 --host 127.0.0.1
import http from "node:http";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import next from "next";
import { PEER_HEADER, PEER_MARK } from "./peer";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const MAX_DECLARED_BODY = 1024 * 1024;
const TOO_LARGE = "The request body is over 1 MiB; the dashboard reads no more than that. Nothing changed.";
const BAD_PATH = "The request path is not valid: a percent escape does not decode.";
/** What next.config.js gives every answer, for the ones the front makes itself (Next.js never sees them). */
const FRONT_HEADERS = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
  "cache-control": "no-store",
};

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
 * Answers the front's own refusals: `{ code, message }` JSON (the API's error model) or, for a page,
 * the message as plain text; with connection: close (the client may still be sending: answer, then
 * close instead of reading the rest).
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
  const server = http.createServer();
  const app = next({ dev: false, dir: opts.dir ?? ROOT, conf: opts.conf as never, hostname: opts.host, port: opts.port, httpServer: server });
  const handle = app.getRequestHandler();
  await app.prepare();
  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    try {
      req.headers[PEER_HEADER] = req.socket.remoteAddress ?? "";
      const p = targetPath(req.url ?? "/");
      // Before anything else, the guard's host and caller checks included: such a path names nothing,
      // so refusing it tells an unknown caller nothing, and Next.js would answer it with a bare 500.
      if (!decodes(p)) return refuse(res, 400, "bad_request", BAD_PATH, isApi(p));
      if (Number(req.headers["content-length"] ?? 0) > MAX_DECLARED_BODY) return refuse(res, 413, "body_too_large", TOO_LARGE, isApi(p));
      handle(req, res).catch((err: unknown) => failed(req, res, err));
    } catch (err) {
      failed(req, res, err);
    }
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
