/**
 * How the dashboard's HTTP server (lib/http/dashboard-server.ts) tells the app the TCP peer's
 * address: a request header it overwrites on every request, believed only in a process that server
 * marked (a bare `next start` passes any client's header through unchanged). No `server-only`: the
 * server itself runs outside Next.js's bundles.
 */
export const PEER_HEADER = "x-lifeboat-peer";
export const PEER_MARK = Symbol.for("lifeboat.http.peerHeader");
