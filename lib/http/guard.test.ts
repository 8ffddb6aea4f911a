import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { NextRequest } from "next/server";
import { PEER_HEADER, PEER_MARK } from "./peer";
import { apiRoute } from "./api-route";
import { guardPage } from "./page-guard";
import { readAudit } from "../db/database";
import { serverContext } from "../server/context";
import { writeRoleTokens } from "../auth/testing/tokens";
import { localPath } from "../contracts/auth";

// The guard as every route meets it, through apiRoute and the real sign-in route: hosts, bodies,
// same-origin, sessions, roles, the sign-in limits and what the audit log records.
let tokens: ReturnType<typeof writeRoleTokens>["tokens"];
let dataDir: string;
let login: typeof import("@/app/api/auth/login/route");
let logout: typeof import("@/app/api/auth/logout/route");
let users: typeof import("@/app/api/users/route");
const ORIGIN = "http://127.0.0.1:3000";
const PASSWORD = "first-admin-password-1";

const action = apiRoute({ access: "operator" }, () => Response.json({ did: "it" }));
const adminAction = apiRoute({ access: "admin" }, () => Response.json({ did: "it" }));

function req(url: string, init: RequestInit & { cookie?: string; peer?: string } = {}): Request {
  const headers = new Headers(init.headers);
  headers.set("host", "127.0.0.1:3000");
  headers.set(PEER_HEADER, init.peer ?? "127.0.0.1");
  if (init.cookie) headers.set("cookie", init.cookie);
  return new Request(ORIGIN + url, { ...init, headers });
}
const post = (url: string, body: unknown, extra: Record<string, string> = {}, init: { cookie?: string; peer?: string } = {}) =>
  req(url, { method: "POST", body: JSON.stringify(body), headers: { origin: ORIGIN, "content-type": "application/json", ...extra }, ...init });

async function signIn(name: string, password: string, peer = "127.0.0.1") {
  const res = await login.POST(post("/api/auth/login", { name, password }, {}, { peer }));
  const cookie = res.headers.get("set-cookie")?.split(";")[0] ?? "";
  return { res, cookie, body: await res.json() };
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), "lifeboat-guard-"));
  const t = writeRoleTokens(dataDir);
  tokens = t.tokens;
  const pw = path.join(dataDir, "admin-password");
  writeFileSync(pw, PASSWORD + "\n");
  Object.assign(process.env, { ...t.env, LIFEBOAT_DATA_DIR: path.join(dataDir, "data"), LIFEBOAT_ADMIN_PASSWORD_FILE: pw });
  (globalThis as Record<symbol, unknown>)[PEER_MARK] = true;
  login = await import("@/app/api/auth/login/route");
  logout = await import("@/app/api/auth/logout/route");
  users = await import("@/app/api/users/route");
});

describe("the API guard", () => {
  it("refuses a foreign Host (421) and a declared body over 1 MiB (413) before anything else", async () => {
    const foreign = new Request("http://evil.example:3000/api/x", {
      method: "POST",
      headers: { host: "evil.example:3000", authorization: `Bearer ${tokens.admin}` },
    });
    const r1 = await action(foreign);
    expect(r1.status).toBe(421);
    expect((await r1.json()).code).toBe("misdirected_request");
    const big = req("/api/x", { method: "POST", headers: { authorization: `Bearer ${tokens.admin}`, "content-length": String(2 * 1024 * 1024) } });
    expect((await action(big)).status).toBe(413);
  });

  it("signs in the first admin with LIFEBOAT_ADMIN_PASSWORD_FILE and lets the session act, same-origin and JSON only", async () => {
    const { res, cookie, body } = await signIn("admin", PASSWORD);
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ name: "admin", role: "admin", kind: "session" });
    const set = res.headers.get("set-cookie")!;
    expect(set).toMatch(/^lifeboat-session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax; Max-Age=43\d{3}$/);
    expect((await action(post("/api/x", {}, {}, { cookie }))).status).toBe(200);
    // Another site's page: its Origin, a form's content type, no Origin at all.
    expect((await action(post("/api/x", {}, { origin: "http://127.0.0.1:4000" }, { cookie }))).status).toBe(403);
    expect((await action(post("/api/x", {}, { origin: "http://evil.example" }, { cookie }))).status).toBe(403);
    expect((await action(post("/api/x", {}, { origin: "null" }, { cookie }))).status).toBe(403);
    const text = req("/api/x", { method: "POST", body: "{}", headers: { origin: ORIGIN, "content-type": "text/plain" }, cookie });
    expect((await action(text)).status).toBe(415);
    const form = req("/api/x", { method: "POST", body: "a=1", headers: { origin: ORIGIN, "content-type": "application/x-www-form-urlencoded" }, cookie });
    expect((await action(form)).status).toBe(415);
    const bare = req("/api/x", { method: "POST", body: "{}", headers: { "content-type": "application/json" }, cookie });
    expect((await action(bare)).status).toBe(403);
    const fetchMeta = req("/api/x", { method: "POST", body: "{}", headers: { "content-type": "application/json", "sec-fetch-site": "same-origin" }, cookie });
    expect((await action(fetchMeta)).status).toBe(200);
    // The browser says another site sent it: believed over an Origin that claims this one, and nothing is done.
    for (const site of ["cross-site", "same-site", "none"]) {
      const claimed = await adminAction(post("/api/x", {}, { "sec-fetch-site": site }, { cookie }));
      expect(claimed.status, site).toBe(403);
      expect(await claimed.json()).toMatchObject({ code: "forbidden" });
      const created = await users.POST(
        post("/api/users", { name: `csrf-${site}`, role: "admin", password: "csrf-password-123" }, { "sec-fetch-site": site }, { cookie }),
      );
      expect(created.status, site).toBe(403);
    }
    expect(readAudit(serverContext().db, { limit: 1000 }).filter((e) => e.target?.startsWith("csrf-"))).toEqual([]);
    expect((await action(post("/api/x", {}, { "sec-fetch-site": "same-origin" }, { cookie }))).status).toBe(200);
    // Reads need no Origin.
    expect((await action(req("/api/x", { cookie }))).status).toBe(200);
  });

  it("answers 401 without credentials and for a wrong token, 403 naming the role for too little", async () => {
    expect((await action(req("/api/x"))).status).toBe(401);
    expect((await action(req("/api/x", { headers: { authorization: "Bearer not-a-token-of-this-dashboard-0000" } }))).status).toBe(401);
    const r = await adminAction(req("/api/x", { method: "POST", headers: { authorization: `Bearer ${tokens.operator}` } }));
    expect(r.status).toBe(403);
    expect(await r.json()).toMatchObject({ code: "forbidden", role: "operator", needs: "admin" });
    // Bearer requests carry no cookie, so they need neither Origin nor a content type.
    expect((await action(req("/api/x", { method: "POST", headers: { authorization: `Bearer ${tokens.operator}` } }))).status).toBe(200);
  });

  it("takes a session cookie that does not decode as none: 401 from the API, the sign-in page opens", async () => {
    // Another app on the same host name (cookies ignore ports) can set such a cookie.
    const bad = "lifeboat-session=%E0%A4%A";
    const r = await action(req("/api/x", { cookie: bad }));
    expect([r.status, (await r.json()).code]).toEqual([401, "unauthorized"]);
    const page = (p: string, cookie: string) => guardPage(new NextRequest(ORIGIN + p, { headers: { host: "127.0.0.1:3000", cookie } }));
    const login = page("/login", bad);
    expect(login.status).toBe(200);
    expect(login.headers.get("x-middleware-next")).toBe("1");
    const other = page("/backups", bad);
    expect([other.status, new URL(other.headers.get("location")!).pathname]).toEqual([303, "/login"]);
  });

  it("lets a session act beside an Authorization header of another scheme (a proxy's Basic credentials)", async () => {
    const { cookie } = await signIn("admin", PASSWORD);
    const basic = { authorization: "Basic dXNlcjpwYXNzd29yZA==" };
    expect((await action(req("/api/x", { headers: basic, cookie }))).status).toBe(200);
    expect((await action(post("/api/x", {}, basic, { cookie }))).status).toBe(200);
    // It is still a cookie's request: another site's page is refused.
    expect((await action(post("/api/x", {}, { ...basic, origin: "http://evil.example" }, { cookie }))).status).toBe(403);
    expect((await action(req("/api/x", { headers: basic }))).status).toBe(401);
    const page = guardPage(new NextRequest(ORIGIN + "/backups", { headers: { host: "127.0.0.1:3000", cookie, ...basic } }));
    expect([page.status, page.headers.get("x-middleware-next")]).toEqual([200, "1"]);
  });

  it("ends a session at sign-out", async () => {
    const { cookie } = await signIn("admin", PASSWORD);
    expect((await action(req("/api/x", { cookie }))).status).toBe(200);
    const out = await logout.POST(post("/api/auth/logout", {}, {}, { cookie }));
    expect(out.headers.get("set-cookie")).toMatch(/^lifeboat-session=; .*Max-Age=0$/);
    expect((await action(req("/api/x", { cookie }))).status).toBe(401);
  });

  it("limits failed sign-ins per user (even for names that do not exist) and per address, with one answer", async () => {
    const res = await users.POST(
      post("/api/users", { name: "ann", role: "viewer", password: "ann-password-123" }, { authorization: `Bearer ${tokens.admin}` }),
    );
    expect(res.status).toBe(201);
    const wrongUser = await signIn("nobody-here", "x");
    const wrongPassword = await signIn("ann", "x");
    expect([wrongUser.res.status, wrongUser.body.message]).toEqual([401, wrongPassword.body.message]);
    for (let i = 0; i < 4; i++) expect((await signIn("ann", "wrong " + i, "10.1.1." + i)).res.status).toBe(401);
    // Five failures for ann: even the right password is refused now, before it is checked.
    const locked = await signIn("ann", "ann-password-123", "10.1.1.9");
    expect(locked.res.status).toBe(429);
    expect(locked.body.message).toMatch(/Too many failed sign-ins\. Wait 15 minutes/);
    for (let i = 0; i < 5; i++) expect((await signIn("ghost", "x")).res.status).toBe(401);
    expect((await signIn("ghost", "x")).res.status).toBe(429);
    // One address trying many names: 20 failures, then the address is refused for any name.
    for (let i = 0; i < 20 - 7; i++) await signIn(`name-${i}`, "x", "10.2.2.2");
    for (let i = 0; i < 7; i++) await signIn(`other-${i}`, "x", "10.2.2.2");
    expect((await signIn("admin", PASSWORD, "10.2.2.2")).res.status).toBe(429);
    expect((await signIn("admin", PASSWORD, "10.2.2.3")).res.status).toBe(200);
  }, 60_000);

  it("records who did what from where, and never a password", () => {
    const entries = readAudit(serverContext().db, { limit: 1000 });
    expect(entries.find((e) => e.action === "user.create")).toMatchObject({
      target: "ann",
      actor: "tokens file, line 3",
      actorRole: "admin",
      clientAddress: "127.0.0.1",
    });
    expect(entries.find((e) => e.action === "auth.login" && e.outcome === "failed" && e.clientAddress === "10.1.1.0")).toMatchObject({
      target: "ann",
      actor: "anonymous",
    });
    expect(entries.find((e) => e.action === "auth.login" && e.outcome === "failed" && e.target === "(unknown name)")).toBeTruthy();
    expect(entries.filter((e) => e.action === "auth.login" && e.outcome === "ok").map((e) => [e.target, e.clientAddress])).toContainEqual([
      "admin",
      "127.0.0.1",
    ]);
    expect(entries.find((e) => e.action === "auth.logout")).toMatchObject({ actor: "admin", actorRole: "admin" });
    expect(entries.find((e) => e.action === "token.use")).toMatchObject({ actor: expect.stringMatching(/^tokens file, line/) });
    const db = readFileSync(path.join(dataDir, "data", "lifeboat.db"));
    expect(db.includes(Buffer.from(PASSWORD))).toBe(false);
    expect(db.includes(Buffer.from("ann-password-123"))).toBe(false);
  });
});

describe("the sign-in page's way back", () => {
  it("goes to a path of this site only, also when the path hides a host behind a tab, a newline or a dot segment", async () => {
    const { cookie } = await signIn("admin", PASSWORD);
    const back = (next: string) => {
      const res = guardPage(new NextRequest(`${ORIGIN}/login?next=${encodeURIComponent(next)}`, { headers: { host: "127.0.0.1:3000", cookie } }));
      expect(res.status).toBe(303);
      return new URL(res.headers.get("location")!);
    };
    // (NextRequest names 127.0.0.1 localhost: this site's origin is whatever a path of it gets.)
    const here = back("/backups?flag=gap");
    expect(here.pathname + here.search).toBe("/backups?flag=gap");
    for (const next of [
      "//evil.example/",
      "/\\evil.example",
      "/\t/evil.example",
      "/\n/evil.example",
      "/\r\\evil.example",
      " //evil.example",
      "/./\t/evil.example",
    ])
      expect(back(next).origin, JSON.stringify(next)).toBe(here.origin);
    // The sign-in form goes where the login page tells it (window.location.assign), which parses as this does.
    for (const next of ["/\t/evil.example", "/\n\\evil.example", "https://evil.example", "//evil.example"]) expect(localPath(next)).toBe("/");
    expect(localPath("/nodes/pi-1?x=%2F%2Fa")).toBe("/nodes/pi-1?x=%2F%2Fa");
    expect(localPath(undefined)).toBe("/");
  });
});

describe("the sign-in limits under concurrent guesses", () => {
  it("count each guess before its password is checked: 20 sent at once get 5 checks, and right ones do not count against the address", async () => {
    const made = await users.POST(
      post("/api/users", { name: "cy", role: "viewer", password: "cy-password-1234" }, { authorization: `Bearer ${tokens.admin}` }),
    );
    expect(made.status).toBe(201);
    // From 20 addresses, so only the per-name limit applies.
    const guesses = await Promise.all(Array.from({ length: 20 }, (_, i) => signIn("cy", `guess ${i}`, `10.3.3.${i}`)));
    const statuses = guesses.map((g) => g.res.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(15);
    expect((await signIn("cy", "cy-password-1234", "10.3.4.1")).res.status).toBe(429);
    // Sign-ins that succeed are not failures: more than 20 from one address in a row all work.
    for (let i = 0; i < 22; i++) expect((await signIn("admin", PASSWORD, "10.3.5.5")).res.status).toBe(200);
  }, 60_000);
});

describe("changing one's password", () => {
  it("counts a wrong current password as a failed sign-in: a session cannot guess it without limit", async () => {
    const password = await import("@/app/api/auth/password/route");
    const made = await users.POST(
      post("/api/users", { name: "dee", role: "viewer", password: "dee-password-1234" }, { authorization: `Bearer ${tokens.admin}` }),
    );
    expect(made.status).toBe(201);
    const { cookie } = await signIn("dee", "dee-password-1234", "10.4.4.4");
    const change = (current: string) => password.POST(post("/api/auth/password", { current, next: "dee-password-5678" }, {}, { cookie, peer: "10.4.4.4" }));
    const guesses = await Promise.all(Array.from({ length: 8 }, (_, i) => change(`guess-${i}`)));
    expect(guesses.map((r) => r.status).sort()).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    // Even the right one now waits, and so does signing in with it.
    expect((await change("dee-password-1234")).status).toBe(429);
    expect((await signIn("dee", "dee-password-1234", "10.4.4.5")).res.status).toBe(429);
  }, 60_000);
});

describe("the API tokens a user made", () => {
  it("act with no more than their maker's role now: less when the maker is demoted, not at all once the maker is deleted", async () => {
    const tokensRoute = await import("@/app/api/tokens/route");
    const userRoute = await import("@/app/api/users/[name]/route");
    const asAdmin = { authorization: `Bearer ${tokens.admin}` };
    expect((await users.POST(post("/api/users", { name: "eli", role: "admin", password: "eli-password-1234" }, asAdmin))).status).toBe(201);
    const { cookie } = await signIn("eli", "eli-password-1234", "10.5.5.5");
    const make = async (name: string, role: string, init: { cookie?: string; headers?: Record<string, string> }) => {
      const res = await tokensRoute.POST(post("/api/tokens", { name, role }, init.headers ?? {}, { cookie: init.cookie }));
      expect(res.status).toBe(201);
      return ((await res.json()) as { token: string }).token;
    };
    const eliAdmin = await make("eli-admin", "admin", { cookie });
    const eliViewer = await make("eli-viewer", "viewer", { cookie });
    // A token eli's token made is eli's too: it cannot outlive eli either.
    const eliChild = await make("eli-child", "admin", { headers: { authorization: `Bearer ${eliAdmin}` } });
    const bearer = (t: string, method = "POST") => req("/api/x", { method, headers: { authorization: `Bearer ${t}` } });
    for (const t of [eliAdmin, eliChild]) expect((await adminAction(bearer(t))).status).toBe(200);
    const params = { params: Promise.resolve({ name: "eli" }) };
    expect((await userRoute.PATCH(post("/api/users/eli", { role: "operator" }, asAdmin), params)).status).toBe(200);
    for (const t of [eliAdmin, eliChild]) {
      const r = await adminAction(bearer(t));
      expect([r.status, (await r.json()).role]).toEqual([403, "operator"]);
      expect((await action(bearer(t))).status).toBe(200);
    }
    const listed = ((await (await tokensRoute.GET(req("/api/tokens", { headers: asAdmin }))).json()) as { tokens: { name: string; role: string }[] }).tokens;
    expect(listed.filter((t) => t.name.startsWith("eli-")).map((t) => [t.name, t.role])).toEqual([
      ["eli-admin", "operator"],
      ["eli-viewer", "viewer"],
      ["eli-child", "operator"],
    ]);
    const del = new Request(ORIGIN + "/api/users/eli", { method: "DELETE", headers: { host: "127.0.0.1:3000", ...asAdmin } });
    expect((await userRoute.DELETE(del, params)).status).toBe(200);
    for (const t of [eliAdmin, eliViewer, eliChild]) expect((await action(bearer(t, "GET"))).status).toBe(401);
    // Tokens made by a file token belong to no user and stay.
    const fromFile = await make("from-file", "operator", { headers: asAdmin });
    expect((await action(bearer(fromFile))).status).toBe(200);
  }, 60_000);
});
