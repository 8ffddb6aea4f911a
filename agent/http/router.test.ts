import http from "node:http";
import type { AddressInfo } from "node:net";
import net from "node:net";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { DomainError } from "../../lib/contracts/errors";
import { Router } from "./router";

/**
 * The router's error boundary on a real server on loopback, with requests a browser or fetch would
 * never send (raw sockets): a target that is not a URL, a malformed percent escape, a body over the
 * 1 MiB limit. Each is answered in the error model (`{ code, message }`) and the agent keeps serving.
 * Before, the first crashed the agent (an exception thrown in the request listener, outside every
 * catch), the second was a 500 and the third a reset connection instead of the 413.
 */

const TOKEN = "router-test-agent-token-0123456789abcdef";
const AUTH = `Bearer ${TOKEN}`;
let server: http.Server;
let port: number;
let url: string;

beforeAll(async () => {
  const router = new Router({ token: TOKEN, log: pino({ level: "silent" }), validateResponses: true });
  router.add({ method: "GET", path: "/livez", auth: false, handler: () => ({ ok: true }) });
  router.add({ method: "GET", path: "/jobs/:id", handler: ({ params }) => ({ id: params.id }) });
  // An error whose answer cannot be made: JSON has no BigInt.
  router.add({
    method: "GET",
    path: "/unanswerable",
    handler: () => {
      throw new DomainError("conflict", "x", { details: { n: 10n } });
    },
  });
  router.add({ method: "POST", path: "/echo", body: z.object({ a: z.string() }), handler: ({ body }) => ({ length: body.a.length }) });
  server = http.createServer(router.listener);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
  url = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

interface RawAnswer {
  status: number | null;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection (`untilClose`; rather than this test giving up after `waitMs`). */
  closed: boolean;
}

/**
 * Sends `head` as it is on a new connection and reads one answer (its head and content-length bytes),
 * or with `untilClose` until the server closes the connection; gives up after `waitMs`. With `pump`,
 * keeps sending `pump` after the head for as long as the connection is open (a client that never
 * stops sending its body).
 */
function raw(head: string, opts: { pump?: Buffer; waitMs?: number; untilClose?: boolean } = {}): Promise<RawAnswer> {
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

async function livez(): Promise<void> {
  const res = await fetch(`${url}/livez`);
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ ok: true });
}

describe("an error whose answer cannot be made", () => {
  it("drops that connection and the agent keeps answering", async () => {
    const answer = await raw(`GET /unanswerable HTTP/1.1\r\nHost: agent\r\nAuthorization: ${AUTH}\r\n\r\n`);
    expect(answer).toMatchObject({ status: null, closed: true });
    await livez();
  });
});

describe("a request target that is not a URL", () => {
  for (const target of ["//%/", "//[/", "//a:99999/"]) {
    it(`GET ${target} is 400 bad_request, without a token, and the agent keeps answering`, async () => {
      const answer = await raw(`GET ${target} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n`);
      expect(answer.status, `answer to GET ${target}: ${JSON.stringify(answer)}`).toBe(400);
      expect(JSON.parse(answer.body)).toEqual({ code: "bad_request", message: expect.any(String) });
      await livez();
      const res = await fetch(`${url}/jobs/j1`, { headers: { authorization: AUTH } });
      expect(await res.json()).toEqual({ id: "j1" });
    });
  }
});

describe("a path parameter with a malformed percent escape", () => {
  it("is 400 bad_request with the token, 401 without; a well-formed escape is decoded", async () => {
    const bad = await fetch(`${url}/jobs/%E0%A4%A`, { headers: { authorization: AUTH } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ code: "bad_request", message: expect.stringContaining("id") });
    const noToken = await fetch(`${url}/jobs/%E0%A4%A`);
    expect(noToken.status).toBe(401);
    const good = await fetch(`${url}/jobs/a%20b%E0%A4%A4`, { headers: { authorization: AUTH } });
    expect(await good.json()).toEqual({ id: "a b\u0924" });
  });
});
