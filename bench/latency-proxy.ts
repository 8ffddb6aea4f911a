/**
 * An HTTP proxy on loopback that holds each request for half of `rttMs` before passing it on and its
 * response for the other half: the round trip to a store that is not on this machine (bench:continuous,
 * a restore from a remote S3). Run in a process of its own (`node --import tsx bench/latency-proxy.ts
 * <upstream> <rttMs>`), so its work does not share the measured process's thread; it prints
 * {"port":N} once listening and exits with its parent.
 */
import http from "node:http";

const [upstreamArg, rttArg] = process.argv.slice(2);
const upstream = new URL(upstreamArg);
const half = Number(rttArg) / 2;
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

const proxy = http.createServer((req, res) => {
  setTimeout(() => {
    const up = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent }, (answer) =>
      setTimeout(() => (res.writeHead(answer.statusCode ?? 502, answer.headers), answer.pipe(res)), half),
    );
    up.on("error", (err) => res.destroy(err));
    req.pipe(up);
  }, half);
});
proxy.keepAliveTimeout = 60_000;
proxy.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: (proxy.address() as { port: number }).port }) + "\n"));
process.on("disconnect", () => process.exit(0));
