import http from "node:http";
import net, { type AddressInfo } from "node:net";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { DomainError } from "../../lib/contracts/errors";
import { postFromChild, rawRequest } from "../../lib/process/raw-http";
import { Router } from "./router";

/**
 * The router's error boundary on a real server on loopback, mostly with requests a browser or fetch
 * would never send (raw sockets): a target that is not a URL, a malformed percent escape, a body over
 * the 1 MiB limit. Each is answered in the error model (`{ code, message }`) and the agent keeps serving.
 * Before, the first crashed the agent (an exception thrown in the request listener, outside every
 * catch), the second was a 500 and the third a reset connection instead of the 413.
 */

const TOKEN = "router-test-agent-token-0123456789abcdef";
const AUTH = `Bearer ${TOKEN}`;
const MIB = 1024 * 1024;
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
  router.add({ method: "GET", path: "/count", query: z.object({ n: z.coerce.number().int().min(1).default(1) }), handler: ({ query }) => query });
  router.add({ method: "POST", path: "/echo", body: z.object({ a: z.string() }), handler: ({ body }) => ({ length: body.a.length }) });
  server = http.createServer();
  router.bindTo(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
  url = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

const raw = (head: string, opts?: Parameters<typeof rawRequest>[2]) => rawRequest(port, head, opts);
/** A node process of its own sends `bytes` to POST /echo with fetch `times` times (`chunked`: as a stream, no content-length); what it saw each time. */
const postEcho = (bytes: number, chunked: boolean, times: number) => postFromChild(url + "/echo", { bytes, chunked, times, headers: { authorization: AUTH } });

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

describe("a body over the 1 MiB limit", () => {
  const tooLarge = { code: "body_too_large", message: expect.any(String) };

  it("declared in content-length: 413 at once, before the body is sent", async () => {
    // Only the head: the answer must not wait for a body that is never sent.
    const answer = await raw(
      `POST /echo HTTP/1.1\r\nHost: agent\r\nAuthorization: ${AUTH}\r\nContent-Type: application/json\r\nContent-Length: ${10 * MIB}\r\n\r\n`,
    );
    expect(answer.status, JSON.stringify(answer)).toBe(413);
    expect(answer.headers.connection).toBe("close");
    expect(JSON.parse(answer.body)).toEqual(tooLarge);
  });

  // fetch from a process of its own, as a real client is: in this process its writes would wait for
  // the server's turns of the event loop, and a reset could never race the answer.
  for (const how of ["declared", "chunked"] as const) {
    it(`${how} and sent by fetch (16 MiB): the agent stops at the limit and the client reads the 413`, async () => {
      const seen = await postEcho(16 * MIB, how === "chunked", 5);
      for (const s of seen) expect(s, JSON.stringify(seen)).toEqual({ status: 413, connection: "close", body: tooLarge });
      await livez();
    });
  }

  it("chunked from a client that never stops sending: 413, then the agent closes the connection", async () => {
    const chunk = Buffer.from(`10000\r\n${"a".repeat(0x10000)}\r\n`);
    const t0 = Date.now();
    const answer = await raw(`POST /echo HTTP/1.1\r\nHost: agent\r\nAuthorization: ${AUTH}\r\nTransfer-Encoding: chunked\r\n\r\n`, {
      pump: chunk,
      waitMs: 20_000,
      untilClose: true,
    });
    expect(answer.status, JSON.stringify({ ...answer, body: answer.body.slice(0, 200) })).toBe(413);
    expect(answer.headers.connection).toBe("close");
    expect(JSON.parse(answer.body)).toEqual(tooLarge);
    expect(answer.closed).toBe(true);
    expect(Date.now() - t0).toBeLessThan(15_000);
    await livez();
  });

  it("declared over the limit with Expect: 100-continue: the 413 comes instead of 100 Continue", async () => {
    const answer = await raw(
      `POST /echo HTTP/1.1\r\nHost: agent\r\nAuthorization: ${AUTH}\r\nContent-Type: application/json\r\nContent-Length: ${10 * MIB}\r\nExpect: 100-continue\r\n\r\n`,
    );
    expect(answer.status, JSON.stringify(answer)).toBe(413);
    expect(JSON.parse(answer.body)).toEqual(tooLarge);
  });

  it("a body just under the limit is read", async () => {
    const a = "x".repeat(MIB - 100);
    const res = await fetch(`${url}/echo`, {
      method: "POST",
      headers: { authorization: AUTH, "content-type": "application/json" },
      body: JSON.stringify({ a }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ length: a.length });
  });
});

describe("a query", () => {
  it("with a parameter given twice is 400 bad_query naming it, not one of the values taken in silence", async () => {
    const res = await fetch(`${url}/count?n=1&n=2`, { headers: { authorization: AUTH } });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ code: "bad_query", message: expect.stringContaining("n: given more than once") });
    const once = await fetch(`${url}/count?n=2`, { headers: { authorization: AUTH } });
    expect(await once.json()).toEqual({ n: 2 });
  });
});

describe("a request Node.js's parser refuses", () => {
  it("a URL over 16 KiB is 431 header_too_large JSON, a head that is not HTTP 400 bad_request JSON, and the agent keeps answering", async () => {
    const long = await raw(`GET /jobs/x?q=${"a".repeat(20_000)} HTTP/1.1\r\nHost: agent\r\nAuthorization: ${AUTH}\r\n\r\n`, { untilClose: true });
    expect(long.status, JSON.stringify(long).slice(0, 300)).toBe(431);
    expect(JSON.parse(long.body)).toEqual({ code: "header_too_large", message: expect.stringContaining("16 KiB") });
    const garbage = await raw(`GET /livez HTTP/1.1\r\nHost agent\r\n\r\n`, { untilClose: true });
    expect(garbage.status, JSON.stringify(garbage)).toBe(400);
    expect(JSON.parse(garbage.body)).toEqual({ code: "bad_request", message: expect.any(String) });
    await livez();
  });
});

describe("a body", () => {
  it("in a type other than JSON is 415 unsupported_media_type, even when it holds JSON; JSON, or no type at all, is read", async () => {
    const post = (body: string, type?: string) =>
      fetch(`${url}/echo`, {
        method: "POST",
        headers: { authorization: AUTH, ...(type ? { "content-type": type } : {}) },
        body: new Blob([body]).stream(),
        duplex: "half",
      } as RequestInit);
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"]) {
      const res = await post('{"a":"x"}', type);
      expect(res.status, type).toBe(415);
      expect(await res.json()).toEqual({ code: "unsupported_media_type", message: expect.stringContaining("application/json") });
    }
    expect(await (await post('{"a":"xyz"}', "application/json; charset=utf-8")).json()).toEqual({ length: 3 });
    expect(await (await post('{"a":"xyz"}')).json()).toEqual({ length: 3 });
  });

  it("with a field given twice in one object is 400 bad_request naming it, not the last one taken in silence", async () => {
    const post = (body: string) => fetch(`${url}/echo`, { method: "POST", headers: { authorization: AUTH, "content-type": "application/json" }, body });
    const res = await post('{"a":"x","a":"a-longer-value"}');
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ code: "bad_request", message: expect.stringContaining("a: given more than once") });
    expect(await (await post('{"a":"xy"}')).json()).toEqual({ length: 2 });
  });
});

describe("Expect: 100-continue", () => {
  const head = (auth: string, length: number) =>
    `POST /echo HTTP/1.1\r\nHost: agent\r\n${auth}Content-Type: application/json\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`;

  it("a wrong token is refused before the client is told to send its body", async () => {
    const answer = await raw(head("Authorization: Bearer wrong\r\n", 100));
    expect(answer.status, JSON.stringify(answer)).toBe(401);
  });

  it("a route that reads a body says 100 Continue and then reads it", async () => {
    const body = JSON.stringify({ a: "hello" });
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1");
      let text = "";
      let sent = false;
      socket.on("data", (b: Buffer) => {
        text += b.toString("utf8");
        if (!sent && text.startsWith("HTTP/1.1 100")) {
          sent = true;
          socket.write(body);
        }
        if (/"length":5/.test(text)) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on("error", reject);
      setTimeout(() => {
        socket.destroy();
        resolve(text);
      }, 5000);
      socket.write(head(`Authorization: ${AUTH}\r\n`, Buffer.byteLength(body)));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    expect(answer).toContain('{"length":5}');
  });
});

describe("a body sent to a route that reads none", () => {
  for (const [method, status] of [
    ["GET", 200],
    ["POST", 405],
  ] as const) {
    it(`${method} /livez from a client that never stops sending: ${status}, then the agent closes the connection past 1 MiB`, async () => {
      const chunk = Buffer.from(`10000\r\n${"a".repeat(0x10000)}\r\n`);
      const t0 = Date.now();
      const answer = await raw(`${method} /livez HTTP/1.1\r\nHost: agent\r\nTransfer-Encoding: chunked\r\n\r\n`, {
        pump: chunk,
        waitMs: 20_000,
        untilClose: true,
      });
      expect(answer.status, answer.body.slice(0, 200)).toBe(status);
      expect(answer.closed).toBe(true);
      expect(Date.now() - t0).toBeLessThan(15_000);
      await livez();
    });
  }
});

describe("methods", () => {
  it("HEAD of a GET route answers its status and headers without a body", async () => {
    const answer = await raw(`HEAD /livez HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n`, { untilClose: true });
    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toMatch(/^application\/json/);
    expect(answer.body).toBe("");
    const authed = await raw(`HEAD /jobs/a HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n`, { untilClose: true });
    expect(authed.status).toBe(401);
  });

  it("a method the path does not take: 405 with the Allow header naming those it does", async () => {
    const res = await fetch(`${url}/livez`, { method: "DELETE" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, HEAD");
    expect(await res.json()).toMatchObject({ code: "method_not_allowed", message: expect.stringContaining("it allows GET, HEAD") });
  });
});
