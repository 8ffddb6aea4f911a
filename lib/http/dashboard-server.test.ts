import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../net/ports";
import { startProcess, waitForHttp, type RunningProcess } from "../process";
import { postFromChild, rawRequest } from "../process/raw-http";

/**
 * The dashboard's front (lib/http/dashboard-server.ts) around the real built app, with requests no
 * browser sends (raw sockets) and with bodies a client in another process keeps sending after the
 * answer. Before the front answered them: a path whose percent escape does not decode was a 500
 * text/plain from Next.js (it decodes dynamic segments before any route code runs), and a chunked
 * body over 1 MiB got its 413 on a kept-alive connection that then stopped being read, so it ended
 * in a reset that often wiped the answer.
 *
 * It needs a build in LIFEBOAT_NEXT_DIST (default .next-e2e, the browser tests' build): `npm test`
 * runs it as a phase of its own right after its build phase, with LIFEBOAT_BUILD=never; vitest's
 * main phase leaves it out. Alone: `LIFEBOAT_FRONT_TEST=1 npx vitest run
 * lib/http/dashboard-server.test.ts` (with no build there, it builds one first: minutes).
 */

const MIB = 1024 * 1024;
const TOKEN = "front-test-admin-token-0123456789abcdef";
const ADMIN_PASSWORD = "front-test-admin-password";
const BAD_PATH = { code: "bad_request", message: "The request path is not valid: a percent escape does not decode." };
const TOO_LARGE = { code: "body_too_large", message: expect.stringContaining("1 MiB") };

let work: string;
let dash: RunningProcess;
let port: number;
let url: string;
let cookie: string;

beforeAll(async () => {
  const dist = process.env.LIFEBOAT_NEXT_DIST || ".next-e2e";
  if (!existsSync(path.join(dist, "BUILD_ID"))) {
    if (process.env.LIFEBOAT_BUILD === "never") throw new Error(`no build in ${dist}, and LIFEBOAT_BUILD=never (npm test: did its build phase fail?)`);
    const r = spawnSync("node_modules/.bin/next", ["build"], {
      stdio: "inherit",
      env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", LIFEBOAT_NEXT_DIST: dist },
    });
    if (r.status !== 0) throw new Error(`next build into ${dist} failed: this test needs a build`);
  }
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-front-"));
  const secrets = path.join(work, "secrets");
  mkdirSync(secrets, { mode: 0o700 });
  writeFileSync(path.join(secrets, "admin-password"), ADMIN_PASSWORD + "\n", { mode: 0o600 });
  writeFileSync(path.join(secrets, "api-tokens"), `admin ${TOKEN}\n`, { mode: 0o600 });
  port = await freePort();
  url = `http://127.0.0.1:${port}`;
  dash = startProcess(process.execPath, ["--import", "tsx", "lib/http/dashboard-server.ts", "--port", String(port), "--host", "127.0.0.1"], {
    env: {
      ...process.env,
      NEXT_TELEMETRY_DISABLED: "1",
      LIFEBOAT_NEXT_DIST: dist,
      LIFEBOAT_DATA_DIR: path.join(work, "data"),
      LIFEBOAT_ADMIN_PASSWORD_FILE: path.join(secrets, "admin-password"),
      LIFEBOAT_API_TOKENS_FILE: path.join(secrets, "api-tokens"),
      LOG_LEVEL: "warn",
    },
  });
  await waitForHttp(`${url}/api/livez`, { timeoutMs: 60_000, what: "the dashboard", proc: dash });
  const login = await fetch(`${url}/api/auth/login`, {
    method: "POST",
    headers: { origin: url, "content-type": "application/json" },
    body: JSON.stringify({ name: "admin", password: ADMIN_PASSWORD }),
  });
  expect(login.status, await login.clone().text()).toBe(200);
  cookie = login.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
}, 900_000);

afterAll(async () => {
  await dash?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const raw = (head: string, opts?: Parameters<typeof rawRequest>[2]) => rawRequest(port, head, { waitMs: 10_000, ...opts });

async function stillAnswers(): Promise<void> {
  expect(dash.child.exitCode, dash.output()).toBeNull();
  const live = await fetch(`${url}/api/livez`);
  expect(live.status).toBe(200);
  const users = await fetch(`${url}/api/users`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(users.status).toBe(200);
  expect(await users.json()).toMatchObject({ users: expect.arrayContaining([expect.objectContaining({ name: "admin" })]) });
  const page = await fetch(`${url}/login`);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain("<html");
}

const bearer = `Authorization: Bearer ${TOKEN}\r\n`;

describe("a path whose percent escape does not decode", () => {
  const api: [method: string, target: string, auth: string][] = [
    ["GET", "/api/agent/jobs/%E0%A4%A", bearer],
    ["GET", "/api/agent/jobs/%E0%A4%A", ""],
    ["GET", "/api/agent/jobs/%", ""],
    ["GET", "/api/users/%E0%A4%A", bearer],
    ["GET", "/api/users/%C0%AF", bearer],
    ["PATCH", "/api/users/%E0%A4%A", bearer],
    ["DELETE", "/api/users/%E0%A4%A", ""],
    ["GET", "/api/backups/%E0%A4%A/verify", bearer],
    ["DELETE", "/api/nodes/%", bearer],
    ["POST", "/api/nodes/%ZZ/cordon", bearer],
  ];
  for (const [method, target, auth] of api) {
    it(`${method} ${target} ${auth ? "with" : "without"} a token: 400 bad_request JSON, and the dashboard keeps answering`, async () => {
      const body = method === "GET" || method === "DELETE" ? "" : "{}";
      const answer = await raw(
        `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${auth}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      expect(answer.status, JSON.stringify(answer)).toBe(400);
      expect(answer.headers["content-type"]).toMatch(/^application\/json/);
      expect(JSON.parse(answer.body)).toEqual(BAD_PATH);
      await stillAnswers();
    });
  }

  it("a page (signed in or not): a plain 400 page, and the dashboard keeps answering", async () => {
    for (const target of ["/backups/%E0%A4%A", "/nodes/%", "/alerts/%C0%AF"])
      for (const who of [`Cookie: ${cookie}\r\n`, ""]) {
        const answer = await raw(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${who}\r\n`);
        expect(answer.status, `${target} ${who ? "signed in" : "signed out"}: ${JSON.stringify(answer).slice(0, 500)}`).toBe(400);
        expect(answer.headers["content-type"]).toMatch(/^text\/plain/);
        expect(answer.body).toContain("percent escape");
      }
    await stillAnswers();
  });

  it("a well-formed escape still reaches the route, decoded", async () => {
    const res = await fetch(`${url}/api/users/no%20such%E0%A4%A4`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ role: "viewer" }),
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: "not_found", message: expect.stringContaining("no such\u0924") });
  });
});

/** A node process of its own POSTs `bytes` to `route` `times` times (lib/process/raw-http.ts); what it saw each time. */
const postTo = (route: string, bytes: number, chunked: boolean, times: number, headers: Record<string, string>) =>
  postFromChild(url + route, { bytes, chunked, times, headers, field: "name" });

describe("a body over the 1 MiB limit", () => {
  const routes: [route: string, headers: () => Record<string, string>][] = [
    ["/api/users", () => ({ authorization: `Bearer ${TOKEN}` })],
    // Public, but same-origin only: what the sign-in form sends.
    ["/api/auth/login", () => ({ origin: url })],
  ];
  for (const [route, headers] of routes)
    for (const how of ["chunked", "declared"] as const) {
      it(`POST ${route}, ${how}, sent by fetch from another process (16 MiB): the client reads the 413 every time`, async () => {
        const seen = await postTo(route, 16 * MIB, how === "chunked", 5, headers());
        for (const s of seen) expect(s, JSON.stringify(seen)).toEqual({ status: 413, connection: "close", body: TOO_LARGE });
        await stillAnswers();
      });
    }

  it("POST /api/users, chunked, without a token (refused before a byte is read): the client reads the 401 every time", async () => {
    const seen = await postTo("/api/users", 16 * MIB, true, 5, {});
    for (const s of seen)
      expect(s, JSON.stringify(seen)).toEqual({ status: 401, connection: "close", body: { code: "unauthorized", message: expect.any(String) } });
    await stillAnswers();
  });

  it("declared over the limit with Expect: 100-continue (curl's way): the 413 comes instead of 100 Continue", async () => {
    const answer = await raw(
      `POST /api/users HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${bearer}Content-Type: application/json\r\nContent-Length: ${10 * MIB}\r\nExpect: 100-continue\r\n\r\n`,
      { waitMs: 5000 },
    );
    expect(answer.status, JSON.stringify(answer)).toBe(413);
    expect(answer.headers["cross-origin-opener-policy"]).toBe("same-origin");
    expect(JSON.parse(answer.body)).toEqual(TOO_LARGE);
    await stillAnswers();
  });

  it("under the limit with Expect: 100-continue: told to go on, and the body is read", async () => {
    const name = "front-test-continue";
    const body = JSON.stringify({ name, role: "viewer", password: "front-test-password" });
    const text = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1");
      let got = "";
      let sent = false;
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(got);
      }, 10_000);
      socket.on("data", (b: Buffer) => {
        got += b.toString("utf8");
        if (!sent && got.startsWith("HTTP/1.1 100")) {
          sent = true;
          socket.write(body);
        }
        if (got.includes(`"name":"${name}"`)) {
          clearTimeout(timer);
          socket.destroy();
          resolve(got);
        }
      });
      socket.on("error", reject);
      socket.write(
        `POST /api/users HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${bearer}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\n\r\n`,
      );
    });
    expect(text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 201 /);
  });

  it("chunked from a client that never stops sending: 413 with connection: close, then the connection is closed", async () => {
    const chunk = Buffer.from(`10000\r\n${"a".repeat(0x10000)}\r\n`);
    const t0 = Date.now();
    const answer = await raw(
      `POST /api/users HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${bearer}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
      { pump: chunk, waitMs: 20_000, untilClose: true },
    );
    expect(answer.status, JSON.stringify({ ...answer, body: answer.body.slice(0, 300) })).toBe(413);
    expect(answer.headers.connection).toBe("close");
    // Next.js sends the route's answer chunked: its one chunk is the JSON.
    expect(JSON.parse(answer.body.split("\r\n")[1])).toEqual(TOO_LARGE);
    expect(answer.closed).toBe(true);
    expect(Date.now() - t0).toBeLessThan(15_000);
    await stillAnswers();
  });

  it("a chunked body under the limit is still read, on a connection kept alive", async () => {
    const name = "front-test-user";
    const body = JSON.stringify({ name, role: "viewer", password: "front-test-password" });
    const res = await fetch(`${url}/api/users`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: new Blob([body]).stream(),
      duplex: "half",
    } as RequestInit);
    expect(res.status, await res.clone().text()).toBe(201);
    expect(res.headers.get("connection")).not.toBe("close");
    expect(await res.json()).toMatchObject({ name, role: "viewer" });
  });
});

/** Every route under app/api (found from the tree, so a new one is covered) and the methods its route.ts exports. */
function apiRoutes(dir = path.join("app", "api")): { route: string; methods: string[] }[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return apiRoutes(p);
    if (e.name !== "route.ts") return [];
    const methods = [...readFileSync(p, "utf8").matchAll(/^export const (GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)\b/gm)].map((m) => m[1]);
    return [
      {
        route:
          "/" +
          path
            .relative("app", dir)
            .split(path.sep)
            .join("/")
            .replace(/\[(\w+)\]/g, "x-$1"),
        methods,
      },
    ];
  });
}

describe("a method a route does not take", () => {
  it("every API route: each other method (and TRACE, PROPFIND) is 405 method_not_allowed JSON with Allow; OPTIONS names the same", async () => {
    const routes = apiRoutes();
    expect(routes.length).toBeGreaterThanOrEqual(40);
    const seen: string[] = [];
    const expected: string[] = [];
    for (const { route, methods } of routes) {
      const allow = [...new Set([...methods, ...(methods.includes("GET") ? ["HEAD"] : []), "OPTIONS"])].sort().join(", ");
      for (const method of ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "TRACE", "PROPFIND"].filter((m) => !allow.split(", ").includes(m))) {
        // fetch cannot send TRACE; a raw HEAD would wait for the body its content-length announces.
        const answer = ["TRACE", "PROPFIND"].includes(method)
          ? await raw(`${method} ${route} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${bearer}Content-Length: 0\r\n\r\n`, { waitMs: 3000 })
          : await fetch(url + route, { method, headers: { authorization: `Bearer ${TOKEN}` } }).then(async (r) => ({
              status: r.status,
              headers: { allow: r.headers.get("allow") ?? undefined },
              body: await r.text(),
            }));
        let body: unknown = answer.body;
        try {
          body = method === "HEAD" ? "" : JSON.parse(answer.body);
        } catch {
          // not JSON: shown as it is
        }
        seen.push(`${method} ${route}: ${answer.status} allow=${answer.headers.allow} ${JSON.stringify(body)}`);
        const message = `${method} is not allowed on ${route}; it allows ${allow}.`;
        expected.push(`${method} ${route}: 405 allow=${allow} ${JSON.stringify(method === "HEAD" ? "" : { code: "method_not_allowed", message })}`);
      }
      const options = await fetch(url + route, { method: "OPTIONS" });
      seen.push(`OPTIONS ${route}: ${options.status} allow=${options.headers.get("allow")}`);
      expected.push(`OPTIONS ${route}: 204 allow=${allow}`);
    }
    expect(seen).toEqual(expected);
    await stillAnswers();
  }, 120_000);

  it("an API path no route serves is 404 not_found JSON, whatever the method; a page is 405 for TRACE", async () => {
    for (const method of ["GET", "POST", "TRACE"]) {
      const answer = await raw(`${method} /api/no/such/route HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${bearer}Content-Length: 0\r\n\r\n`, { waitMs: 3000 });
      expect(answer.status, JSON.stringify(answer)).toBe(404);
      expect(JSON.parse(answer.body)).toEqual({ code: "not_found", message: `No such endpoint: ${method} /api/no/such/route` });
    }
    const page = await raw(`TRACE /backups HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    expect(page.status).toBe(405);
    expect(page.headers.allow).toBe("GET, HEAD");
    // A route's own 404 is its own.
    const user = await fetch(`${url}/api/users/nobody`, { method: "DELETE", headers: { authorization: `Bearer ${TOKEN}` } });
    expect(user.status).toBe(404);
    expect(await user.json()).toMatchObject({ code: "not_found", message: expect.stringContaining("nobody") });
    await stillAnswers();
  });
});

describe("a request target that is not a path", () => {
  it("absolute-form: its host is the one judged (421 for another's), its path is served; `OPTIONS *` is 204, another method on `*` 400", async () => {
    const foreign = await raw(`GET http://evil.example/api/users HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${bearer}\r\n`, { untilClose: true, waitMs: 3000 });
    expect(foreign.status, JSON.stringify(foreign).slice(0, 300)).toBe(421);
    expect(JSON.parse(foreign.body.replace(/^[\da-f]+\r\n|\r\n0\r\n\r\n$/g, ""))).toMatchObject({ code: "misdirected_request" });
    const own = await fetch(`${url}/api/livez`);
    expect(own.status).toBe(200);
    const ours = await raw(`GET http://127.0.0.1:${port}/api/users HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${bearer}Connection: close\r\n\r\n`, {
      untilClose: true,
      waitMs: 3000,
    });
    expect(ours.status, JSON.stringify(ours).slice(0, 300)).toBe(200);
    expect(ours.body).toContain('"users"');
    const star = await raw(`OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`, { waitMs: 3000 });
    expect(star.status, JSON.stringify(star)).toBe(204);
    expect(star.headers.allow).toContain("GET");
    const starGet = await raw(`GET * HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`, { waitMs: 3000 });
    expect(starGet.status, JSON.stringify(starGet)).toBe(400);
    expect(JSON.parse(starGet.body)).toMatchObject({ code: "bad_request" });
    await stillAnswers();
  });
});

describe("the Host header", () => {
  it("missing (HTTP/1.1) or given twice: 400 bad_request JSON before any route; HTTP/1.0 without one is still served", async () => {
    for (const hosts of ["", `Host: 127.0.0.1:${port}\r\nHost: evil.example\r\n`, `Host: evil.example\r\nHost: 127.0.0.1:${port}\r\n`]) {
      const answer = await raw(`GET /api/users HTTP/1.1\r\n${hosts}${bearer}\r\n`, { waitMs: 3000 });
      expect(answer.status, JSON.stringify(answer).slice(0, 300)).toBe(400);
      expect(JSON.parse(answer.body)).toEqual({ code: "bad_request", message: "The request must carry exactly one Host header." });
    }
    const old = await raw(`GET /api/livez HTTP/1.0\r\n\r\n`, { untilClose: true, waitMs: 3000 });
    expect(old.status, JSON.stringify(old)).toBe(200);
    await stillAnswers();
  });
});

describe("a request Node.js's parser refuses", () => {
  it("a URL over 16 KiB is 431 header_too_large JSON, a head that is not HTTP 400 bad_request JSON, and the dashboard keeps answering", async () => {
    const long = await raw(`GET /api/audit?prefix=${"a".repeat(20_000)} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${bearer}\r\n`, { untilClose: true });
    expect(long.status, JSON.stringify(long).slice(0, 300)).toBe(431);
    expect(long.headers["x-content-type-options"]).toBe("nosniff");
    expect(JSON.parse(long.body)).toEqual({ code: "header_too_large", message: expect.stringContaining("16 KiB") });
    const garbage = await raw(`GET /api/livez HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n`, { untilClose: true });
    expect(garbage.status, JSON.stringify(garbage)).toBe(400);
    expect(JSON.parse(garbage.body)).toEqual({ code: "bad_request", message: expect.any(String) });
    await stillAnswers();
  });
});

describe("a kept-alive connection", () => {
  it("is still open after 6 s idle (Node's default closes it at 5 s, and a client reusing it then got a reset)", async () => {
    const answers = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1");
      let got = "";
      let second = false;
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(got);
      }, 15_000);
      const request = `GET /api/livez HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`;
      socket.on("data", (b: Buffer) => {
        got += b.toString("utf8");
        if (!second && got.includes("HTTP/1.1 200")) {
          second = true;
          setTimeout(() => socket.write(request), 6000);
        }
        if ((got.match(/HTTP\/1\.1 200/g) ?? []).length === 2) {
          clearTimeout(timer);
          socket.destroy();
          resolve(got);
        }
      });
      socket.on("close", () => resolve(got));
      socket.on("error", reject);
      socket.write(request);
    });
    expect((answers.match(/HTTP\/1\.1 200/g) ?? []).length).toBe(2);
  }, 30_000);
});
