import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { NextRequest } from "next/server";
import { PEER_HEADER, PEER_MARK } from "./peer";
import { apiRoute } from "./api-route";
import { guardPage } from "./page-guard";

// LIFEBOAT_AUTH=proxy with the dashboard's own accounts beside it (docs/guide.md, "Single sign-on
// behind a proxy"): a proxy that sends a user none of whose groups gives a role must not lock the
// dashboard's accounts out of the proxied site. The guard as routes meet it, with the real sign-in route.

const ORIGIN = "http://127.0.0.1:3000";
const PROXY = "10.0.0.5";
const PASSWORD = "first-admin-password-1";
const NO_ROLE = { "remote-user": "carol", "remote-groups": "family" };
let login: typeof import("@/app/api/auth/login/route");

const action = apiRoute({ access: "operator" }, (_req, _ctx, who) => Response.json({ name: who.principal?.name, kind: who.principal?.kind }));

function req(url: string, init: RequestInit & { cookie?: string } = {}): Request {
  const headers = new Headers(init.headers);
  headers.set("host", "127.0.0.1:3000");
  headers.set(PEER_HEADER, PROXY);
  if (init.cookie) headers.set("cookie", init.cookie);
  return new Request(ORIGIN + url, { ...init, headers });
}
const page = (p: string, headers: Record<string, string>) =>
  guardPage(new NextRequest(ORIGIN + p, { headers: { host: "127.0.0.1:3000", [PEER_HEADER]: PROXY, ...headers } }));

beforeAll(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "lifeboat-proxy-guard-"));
  const pw = path.join(dir, "admin-password");
  writeFileSync(pw, PASSWORD + "\n");
  Object.assign(process.env, {
    LIFEBOAT_DATA_DIR: path.join(dir, "data"),
    LIFEBOAT_ADMIN_PASSWORD_FILE: pw,
    LIFEBOAT_AUTH: "proxy",
    LIFEBOAT_TRUSTED_PROXIES: PROXY,
    LIFEBOAT_PROXY_ROLES: "lifeboat-admins=admin",
  });
  (globalThis as Record<symbol, unknown>)[PEER_MARK] = true;
  login = await import("@/app/api/auth/login/route");
});

describe("a proxy user without a role, beside the dashboard's own accounts", () => {
  it("is refused with a sentence that names the way in, and the sign-in page still opens", async () => {
    const r = await action(req("/api/x", { headers: NO_ROLE }));
    expect(r.status).toBe(403);
    expect((await r.json()).message).toMatch(/^You are signed in as carol, but none of your groups gives a Lifeboat role\..*sign in with a Lifeboat account/);
    const other = page("/backups", NO_ROLE);
    expect(other.status).toBe(403);
    expect(await other.text()).toContain('href="/login"');
    const signInPage = page("/login", NO_ROLE);
    expect([signInPage.status, signInPage.headers.get("x-middleware-next")]).toEqual([200, "1"]);
  });

  it("can sign in with a Lifeboat account through the proxy, and that session acts", async () => {
    const res = await login.POST(
      req("/api/auth/login", {
        method: "POST",
        body: JSON.stringify({ name: "admin", password: PASSWORD }),
        headers: { ...NO_ROLE, origin: ORIGIN, "content-type": "application/json" },
      }),
    );
    expect(res.status).toBe(200);
    const cookie = res.headers.get("set-cookie")!.split(";")[0];
    const r = await action(req("/api/x", { headers: NO_ROLE, cookie }));
    expect([r.status, await r.json()]).toEqual([200, { name: "admin", kind: "session" }]);
    const p = page("/backups", { ...NO_ROLE, cookie });
    expect([p.status, p.headers.get("x-middleware-next")]).toEqual([200, "1"]);
  });

  it("a proxy user whose group gives a role is still that user (the proxy comes first)", async () => {
    const r = await action(req("/api/x", { headers: { "remote-user": "dan", "remote-groups": "lifeboat-admins" } }));
    expect([r.status, await r.json()]).toEqual([200, { name: "dan", kind: "proxy" }]);
  });
});
