// The dashboard's HTTP server: Next.js behind a thin node:http front, so the app learns the real
// client address (Next.js keeps a client-sent X-Forwarded-For as it is, which would let anyone claim
// to be a trusted proxy or dodge the sign-in limits) and a declared body over 1 MiB is refused
// before anything reads it. `npm start` runs it; so do the browser tests; a release runs it through
// lib/http/release-server.ts (bundled as dashboard/lifeboat-dashboard.mjs).
//
//   node --import tsx lib/http/dashboard-server.ts --port 3000 --host 127.0.0.1
import http from "node:http";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import next from "next";
import { PEER_HEADER, PEER_MARK } from "./peer";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const MAX_DECLARED_BODY = 1024 * 1024;

export interface DashboardServer {
  server: http.Server;
  url: string;
  close(): Promise<void>;
}

function refuse(res: http.ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ code, message });
  // The client may still be sending: answer, then close instead of reading the rest.
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body), connection: "close" });
  res.end(body);
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
    req.headers[PEER_HEADER] = req.socket.remoteAddress ?? "";
    if (Number(req.headers["content-length"] ?? 0) > MAX_DECLARED_BODY) {
      refuse(res, 413, "body_too_large", "The request body is over 1 MiB; the dashboard reads no more than that. Nothing changed.");
      return;
    }
    void handle(req, res);
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
