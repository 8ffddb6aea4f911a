import net from "node:net";

/**
 * A TCP proxy in front of a real server (s3rver) that makes the network fail the way it does in the
 * field: for requests whose first line matches `stall`, it passes the first `afterBytes` bytes of
 * the response and then nothing more, keeping the connection open — a store that stopped answering
 * in the middle of a download. Every other request goes through untouched.
 */

export interface StallingProxy {
  endpoint: string;
  /** Requests stalled so far (their request lines). */
  stalled: string[];
  close(): Promise<void>;
}

/** Starts the proxy on a free loopback port. Rejects when it cannot listen. */
export async function startStallingProxy(
  target: { host: string; port: number },
  rules: { stall: RegExp; afterBytes: number; reset?: boolean }[],
): Promise<StallingProxy> {
  const sockets = new Set<net.Socket>();
  const stalled: string[] = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client).add(upstream);
    let stalling: { afterBytes: number; reset?: boolean } | undefined;
    let passed = 0;
    client.on("data", (d) => {
      // A new request on this (keep-alive) connection starts with its request line.
      const line = d.toString("latin1", 0, Math.min(d.length, 512)).split("\r\n")[0];
      if (/^[A-Z]+ \S+ HTTP\/1\.[01]$/.test(line)) {
        stalling = rules.find((r) => r.stall.test(line));
        passed = 0;
        if (stalling) stalled.push(line);
      }
      upstream.write(d);
    });
    upstream.on("data", (d) => {
      if (!stalling) return void client.write(d);
      const room = stalling.afterBytes - passed;
      if (room > 0) {
        client.write(d.subarray(0, room));
        passed += Math.min(room, d.length);
      }
      if (passed < stalling.afterBytes) return;
      // Dropped: the client waits for bytes that never come, or (reset) sees the connection end.
      if (stalling.reset) {
        // What was passed still arrives, then the connection ends (not a destroy, which would drop it).
        upstream
          .removeAllListeners("close")
          .removeAllListeners("error")
          .on("error", () => {});
        upstream.destroy();
        sockets.delete(upstream);
        client.end();
      }
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stalled,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
