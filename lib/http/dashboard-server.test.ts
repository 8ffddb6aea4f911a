import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../net/ports";
import { startProcess, waitForHttp, type RunningProcess } from "../process";

/**
 * The dashboard's front (lib/http/dashboard-server.ts) around the real built app, with requests no
 * browser sends (raw sockets). Before the front answered it, a path whose percent escape does not
 * decode was a 500 text/plain from Next.js (it decodes dynamic segments before any route code runs).
 *
 * It needs a build in LIFEBOAT_NEXT_DIST (default .next-e2e, the browser tests' build, which
 * `npm test` makes before its vitest phase); alone, with none there, it builds one first (minutes),
 * unless LIFEBOAT_BUILD=never.
 */

const TOKEN = "front-test-admin-token-0123456789abcdef";
const ADMIN_PASSWORD = "front-test-admin-password";
const BAD_PATH = { code: "bad_request", message: "The request path is not valid: a percent escape does not decode." };

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
    const timer = setTimeout(() => finish(false), opts.waitMs ?? 10_000);
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

/** The dashboard still answers: its liveness, and an admin's read through the whole stack. */
async function stillAnswers(): Promise<void> {
  expect(dash.child.exitCode, dash.output()).toBeNull();
  const live = await fetch(`${url}/api/livez`);
  expect(live.status).toBe(200);
  const users = await fetch(`${url}/api/users`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(users.status).toBe(200);
  expect(await users.json()).toMatchObject({ users: [expect.objectContaining({ name: "admin" })] });
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
