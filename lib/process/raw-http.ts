// HTTP as no browser sends it, for the servers' tests (the agent's router, the dashboard's front):
// a request head written as it is on a raw socket, and large bodies sent from a process of its own.
import { execFile } from "node:child_process";
import net from "node:net";
import { promisify } from "node:util";

export interface RawAnswer {
  status: number | null;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection (`untilClose`; rather than the caller giving up after `waitMs`). */
  closed: boolean;
}

/**
 * Sends `head` as it is on a new connection to 127.0.0.1:`port` and reads one answer (its head and
 * content-length bytes), or with `untilClose` until the server closes the connection; gives up after
 * `waitMs` (default 5 s). With `pump`, keeps sending `pump` after the head for as long as the
 * connection is open (a client that never stops sending its body).
 */
export function rawRequest(port: number, head: string, opts: { pump?: Buffer; waitMs?: number; untilClose?: boolean } = {}): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const got: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(got).toString("utf8");
      const [top, ...rest] = text.split("\r\n\r\n");
      const lines = top.split("\r\n");
      const status = /^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? "");
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(":");
        if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: status ? Number(status[1]) : null, headers, body: rest.join("\r\n\r\n"), closed });
    };
    const timer = setTimeout(() => finish(false), opts.waitMs ?? 5000);
    socket.on("data", (b: Buffer) => {
      got.push(b);
      if (opts.untilClose) return;
      const text = Buffer.concat(got).toString("utf8");
      const end = text.indexOf("\r\n\r\n");
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, end));
      if (end >= 0 && length && Buffer.byteLength(text) - end - 4 >= Number(length[1])) finish(false);
    });
    socket.on("end", () => finish(true));
    socket.on("close", () => finish(true));
    // A write after the server closed its side fails (EPIPE/ECONNRESET); what was read still counts.
    socket.on("error", () => finish(true));
    socket.write(head);
    const pump = () => {
      while (!done && opts.pump) if (!socket.write(opts.pump)) return void socket.once("drain", pump);
    };
    pump();
  });
}

/**
 * A node process of its own POSTs about `bytes` to `target` with fetch, `times` times (`chunked`: as a
 * stream of 64 KiB pieces, no content-length; else JSON `{ [field]: "x…" }` with its length); resolves
 * with what it saw each time: `{ status, connection, body }` or `{ error }` (the socket's code). In the
 * test's own process its writes would wait for the server's turns of the event loop, and a reset
 * could never race the answer.
 */
export async function postFromChild(
  target: string,
  opts: { bytes: number; chunked: boolean; times: number; headers: Record<string, string>; field?: string },
): Promise<unknown[]> {
  const script = `
    const [target, headers, bytes, chunked, times, field] = process.argv.slice(1);
    const seen = [];
    for (let i = 0; i < Number(times); i++) {
      let sent = 0;
      const body = chunked === "1"
        ? new ReadableStream({ pull(c) { if (sent >= Number(bytes)) return c.close(); sent += 65536; c.enqueue(new Uint8Array(65536).fill(97)); } })
        : JSON.stringify({ [field]: "x".repeat(Number(bytes)) });
      try {
        const res = await fetch(target, { method: "POST", headers: JSON.parse(headers), body, duplex: "half" });
        seen.push({ status: res.status, connection: res.headers.get("connection"), body: await res.json() });
      } catch (err) {
        seen.push({ error: String(err.cause?.code ?? err.message) });
      }
    }
    process.stdout.write(JSON.stringify(seen));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, [
    "--input-type=module",
    "-e",
    script,
    target,
    JSON.stringify({ "content-type": "application/json", ...opts.headers }),
    String(opts.bytes),
    opts.chunked ? "1" : "0",
    String(opts.times),
    opts.field ?? "a",
  ]);
  return JSON.parse(stdout) as unknown[];
}
