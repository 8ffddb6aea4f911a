import { test, expect, type Page } from "@playwright/test";
import type { Role } from "../lib/contracts/auth";
import { signIn, submitSignInForm } from "./support/auth";
import { startDashboard, warmPages, type RunningDashboard } from "./support/dashboard";
import { startTestCluster, type TestCluster } from "./support/kube";
import { keepScreenshot } from "./support/screenshot";
import { expectFitsPhone } from "./support/layout";

// Accounts in the browser: signing in and out, wrong passwords and the sign-in limit, sessions that
// end, what each role sees and may do (and the 403 when it asks the API for more), the admins'
// users and API tokens pages, and the audit log saying who did what from where.

let cluster: TestCluster;
let dash: RunningDashboard;

test.describe.configure({ mode: "serial" });

test.beforeAll(async ({}, testInfo) => {
  testInfo.setTimeout(120_000);
  cluster = await startTestCluster();
  dash = await startDashboard({ env: cluster.env });
});
test.afterAll(async () => {
  await dash?.stop();
  await cluster?.stop();
});

const userMenu = (page: Page) => page.getByRole("button", { name: /admin|operator|viewer/ }).filter({ has: page.getByTestId("signed-in-as") });

test("a signed-out visitor is sent to the sign-in page, signs in, and lands where they were going", async ({ page }, testInfo) => {
  await page.goto(dash.url + "/nodes/pi-3");
  await expect(page).toHaveURL(`${dash.url}/login?next=%2Fnodes%2Fpi-3`);
  await expect(page.getByRole("heading", { name: "Sign in to Lifeboat" })).toBeVisible();
  await expect(page.getByRole("navigation", { name: "Main" })).toHaveCount(0);
  await keepScreenshot(page, testInfo, "auth-sign-in");
  await submitSignInForm(page, dash.credentials.operator);
  await expect(page).toHaveURL(`${dash.url}/nodes/pi-3`);
  await expect(page.getByTestId("signed-in-as")).toHaveText("operator");
  // The session cookie is out of scripts' reach.
  const cookie = (await page.context().cookies()).find((c) => c.name === "lifeboat-session")!;
  expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Lax" });
  expect(await page.evaluate(() => document.cookie)).not.toContain("lifeboat-session");
});

test("a wrong password, or a user who does not exist, gets the same sentence", async ({ page }, testInfo) => {
  await page.goto(dash.url + "/login");
  await submitSignInForm(page, { name: "viewer", password: "not the password" });
  await expect(page.getByRole("form", { name: "Sign in" }).getByRole("alert")).toHaveText("Wrong user name or password.");
  await keepScreenshot(page, testInfo, "auth-wrong-password");
  await submitSignInForm(page, { name: "nobody-at-all", password: "not the password" });
  await expect(page.getByRole("form", { name: "Sign in" }).getByRole("alert")).toHaveText("Wrong user name or password.");
  await expect(page).toHaveURL(/\/login$/);
});

test("after five failures for a name, even the right password is refused for a while", async ({ page }, testInfo) => {
  const res = await fetch(`${dash.url}/api/users`, {
    method: "POST",
    headers: { authorization: `Bearer ${dash.tokens.admin}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "forgetful", role: "viewer", password: "forgetful-password-1" }),
  });
  expect(res.status).toBe(201);
  await page.goto(dash.url + "/login");
  for (let i = 0; i < 5; i++) {
    await submitSignInForm(page, { name: "forgetful", password: `guess number ${i}` });
    await expect(page.getByRole("form", { name: "Sign in" }).getByRole("alert")).toHaveText("Wrong user name or password.");
  }
  await submitSignInForm(page, { name: "forgetful", password: "forgetful-password-1" });
  await expect(page.getByRole("form", { name: "Sign in" }).getByRole("alert")).toContainText("Too many failed sign-ins. Wait 15 minutes");
  await keepScreenshot(page, testInfo, "auth-rate-limited");
  // Another name from the same browser still signs in (the per-address limit is higher).
  await submitSignInForm(page, dash.credentials.viewer);
  await expect(page.getByTestId("signed-in-as")).toHaveText("viewer");
});

test("signing out ends the session: pages go back to the sign-in page and the old cookie is refused", async ({ page }) => {
  await signIn(page, dash, "viewer");
  await page.goto(dash.url + "/backups");
  const old = (await page.context().cookies()).find((c) => c.name === "lifeboat-session")!.value;
  await userMenu(page).click();
  await page.getByRole("menuitem", { name: "Sign out" }).click();
  await expect(page).toHaveURL(`${dash.url}/login`);
  await page.goto(dash.url + "/audit");
  await expect(page).toHaveURL(/\/login\?next=%2Faudit$/);
  const r = await fetch(`${dash.url}/api/auth/me`, { headers: { cookie: `lifeboat-session=${old}` } });
  expect(r.status).toBe(401);
});

/** What each role sees in the navigation and on the nodes and backups pages. */
async function seen(page: Page): Promise<Record<string, boolean>> {
  await page.goto(dash.url + "/nodes/pi-3");
  // The node's details (and its actions) come with its data.
  await expect(page.getByText(/192\.168\.1\.13/).first()).toBeVisible();
  const nav = page.getByRole("navigation", { name: "Main" });
  const visible = async (l: ReturnType<Page["getByRole"]>) => (await l.count()) > 0;
  const out: Record<string, boolean> = {
    "nav Restore master": await visible(nav.getByRole("link", { name: "Restore master" })),
    "nav Migrate worker": await visible(nav.getByRole("link", { name: "Migrate worker" })),
    "nav Audit log": await visible(nav.getByRole("link", { name: "Audit log" })),
    Cordon: await visible(page.getByRole("button", { name: "Cordon" })),
    "Drain…": await visible(page.getByRole("button", { name: "Drain…" })),
    "Delete…": await visible(page.getByRole("button", { name: "Delete…" })),
  };
  await page.goto(dash.url + "/backups");
  await expect(page.getByRole("heading", { name: "Backups", level: 1 })).toBeVisible();
  out.Refresh = await visible(page.getByRole("button", { name: /Refresh/ }));
  await userMenu(page).click();
  out["menu Users"] = await visible(page.getByRole("menuitem", { name: "Users" }));
  out["menu API tokens"] = await visible(page.getByRole("menuitem", { name: "API tokens" }));
  return out;
}

/** What the API answers each role for one call per level above viewer. */
async function apiAnswers(page: Page): Promise<Record<string, number>> {
  const call = async (method: string, p: string, data: unknown = {}) =>
    (await page.request.fetch(dash.url + p, { method, data, headers: { origin: dash.url, "content-type": "application/json" } })).status();
  return {
    "GET /api/audit": (await page.request.get(dash.url + "/api/audit")).status(),
    // Operator work: refresh the catalog (no store here: answered, but past the guard).
    "POST /api/catalog/refresh": await call("POST", "/api/catalog/refresh"),
    // Admin work: the restore wizard, the users.
    "GET /api/restore/runs/current": (await page.request.get(dash.url + "/api/restore/runs/current")).status(),
    "GET /api/users": (await page.request.get(dash.url + "/api/users")).status(),
    "POST /api/nodes/pi-3/drain": await call("POST", "/api/nodes/pi-3/drain", { timeoutSeconds: 5, force: false, deleteEmptyDirData: false }),
  };
}

const EXPECTED: Record<Role, { seen: Record<string, boolean>; api: Record<string, number> }> = {
  viewer: {
    seen: {
      "nav Restore master": false,
      "nav Migrate worker": false,
      "nav Audit log": true,
      Cordon: false,
      "Drain…": false,
      "Delete…": false,
      Refresh: false,
      "menu Users": false,
      "menu API tokens": false,
    },
    api: {
      "GET /api/audit": 200,
      "POST /api/catalog/refresh": 403,
      "GET /api/restore/runs/current": 403,
      "GET /api/users": 403,
      "POST /api/nodes/pi-3/drain": 403,
    },
  },
  operator: {
    seen: {
      "nav Restore master": false,
      "nav Migrate worker": false,
      "nav Audit log": true,
      Cordon: true,
      "Drain…": false,
      "Delete…": false,
      Refresh: true,
      "menu Users": false,
      "menu API tokens": false,
    },
    api: {
      "GET /api/audit": 200,
      "POST /api/catalog/refresh": 200,
      "GET /api/restore/runs/current": 403,
      "GET /api/users": 403,
      "POST /api/nodes/pi-3/drain": 403,
    },
  },
  admin: {
    seen: {
      "nav Restore master": true,
      "nav Migrate worker": true,
      "nav Audit log": true,
      Cordon: true,
      "Drain…": true,
      "Delete…": true,
      Refresh: true,
      "menu Users": true,
      "menu API tokens": true,
    },
    api: {
      "GET /api/audit": 200,
      "POST /api/catalog/refresh": 200,
      "GET /api/restore/runs/current": 200,
      "GET /api/users": 200,
      "POST /api/nodes/pi-3/drain": 202,
    },
  },
};

for (const role of ["viewer", "operator", "admin"] as const) {
  test(`a ${role} sees and can do exactly a ${role}'s actions, and gets 403 from the API for more`, async ({ page }, testInfo) => {
    await signIn(page, dash, role);
    expect(await seen(page)).toEqual(EXPECTED[role].seen);
    await page.keyboard.press("Escape");
    await page.goto(dash.url + "/nodes/pi-3");
    await expect(page.getByText(/192\.168\.1\.13/).first()).toBeVisible();
    await keepScreenshot(page, testInfo, `auth-role-${role}-node`);
    expect(await apiAnswers(page)).toEqual(EXPECTED[role].api);
    // A page above the role says so instead of showing controls that would fail.
    await page.goto(dash.url + "/restore");
    if (role === "admin") await expect(page.getByRole("heading", { name: /Restore/ }).first()).toBeVisible();
    else {
      await expect(page.getByRole("heading", { name: "No access" })).toBeVisible();
      await expect(page.getByText(`This page needs the admin role; you are signed in as ${role} with the ${role} role.`)).toBeVisible();
    }
    if (role === "operator") {
      // The operator cordons and uncordons through the UI: allowed, and it reaches the cluster.
      await page.goto(dash.url + "/nodes/pi-2");
      await page.getByRole("button", { name: "Cordon" }).click();
      await page.getByRole("dialog").getByRole("button", { name: "Cordon" }).click();
      await expect(page.getByText("pi-2 is cordoned")).toBeVisible();
      await expect.poll(() => cluster.api.cluster.nodes.get("pi-2")!.spec?.unschedulable).toBe(true);
      await page.getByRole("button", { name: "Uncordon" }).click();
      await page.getByRole("dialog").getByRole("button", { name: "Uncordon" }).click();
      await expect(page.getByText("pi-2 is schedulable again.")).toBeVisible();
      await expect.poll(() => !!cluster.api.cluster.nodes.get("pi-2")!.spec?.unschedulable).toBe(false);
    }
  });
}

test("an admin adds a user and changes a role; makes an API token, which works until it is revoked", async ({ page }, testInfo) => {
  await signIn(page, dash, "admin");
  await page.goto(dash.url + "/settings/users");
  const add = page.locator("section").filter({ hasText: "Add a user" });
  await add.getByLabel("Name").fill("carol");
  await add.getByLabel("Role").selectOption("operator");
  await add.getByLabel(/Password/).fill("carol-password-123");
  await add.getByRole("button", { name: "Add user" }).click();
  await expect(page.getByText("carol was added.")).toBeVisible();
  await page.getByLabel("Role of carol").selectOption("viewer");
  await expect(page.getByText("carol is now viewer.")).toBeVisible();
  await keepScreenshot(page, testInfo, "auth-users");
  await expectFitsPhone(page);

  await page.goto(dash.url + "/settings/tokens");
  await page.getByLabel("Name (what uses it)").fill("prometheus");
  await page.getByRole("button", { name: "Make token" }).click();
  const token = (await page.getByTestId("new-token").textContent())!.trim();
  expect(token.length).toBeGreaterThanOrEqual(32);
  await keepScreenshot(page, testInfo, "auth-tokens");
  const me = await fetch(`${dash.url}/api/auth/me`, { headers: { authorization: `Bearer ${token}` } });
  expect(await me.json()).toMatchObject({ name: "prometheus", role: "viewer", kind: "token" });
  // A token's request needs no Origin; a viewer token still cannot refresh.
  expect((await fetch(`${dash.url}/api/catalog/refresh`, { method: "POST", headers: { authorization: `Bearer ${token}` } })).status).toBe(403);
  await page.reload();
  await page.locator('tr[data-token="prometheus"]').getByRole("button", { name: "Revoke…" }).click();
  await page.getByRole("button", { name: "Revoke", exact: true }).click();
  await expect(page.locator('tr[data-token="prometheus"]')).toHaveCount(0);
  expect((await fetch(`${dash.url}/api/auth/me`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
});

test("a user changes their own password; the old one stops working", async ({ page }, testInfo) => {
  await signIn(page, dash, "viewer");
  await page.goto(dash.url + "/account");
  await page.getByLabel("Current password").fill(dash.credentials.viewer.password);
  await page.getByLabel(/^New password \(at least/).fill("viewer-new-password-1");
  await page.getByLabel("New password again").fill("viewer-new-password-1");
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByText("Password changed. Your other sessions have ended.")).toBeVisible();
  await keepScreenshot(page, testInfo, "auth-change-password");
  const login = (password: string) =>
    fetch(`${dash.url}/api/auth/login`, {
      method: "POST",
      headers: { origin: dash.url, "content-type": "application/json" },
      body: JSON.stringify({ name: "viewer", password }),
    });
  expect((await login(dash.credentials.viewer.password)).status).toBe(401);
  expect((await login("viewer-new-password-1")).status).toBe(200);
  // Put it back for the tests after this one.
  await page.getByLabel("Current password").fill("viewer-new-password-1");
  await page.getByLabel(/^New password \(at least/).fill(dash.credentials.viewer.password);
  await page.getByLabel("New password again").fill(dash.credentials.viewer.password);
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByText("Password changed.")).toBeVisible();
});

test("the audit log says who signed in, failed, changed a role and made a token, with role and address", async ({ page }, testInfo) => {
  await signIn(page, dash, "admin");
  await page.goto(dash.url + "/audit");
  await page.getByRole("button", { name: "Sign-ins" }).click();
  const rows = page.getByTestId("audit-row");
  await expect(rows.filter({ hasText: "auth.login" }).filter({ hasText: "failed" }).first()).toContainText("127.0.0.1");
  await keepScreenshot(page, testInfo, "auth-audit");
  const r = await fetch(`${dash.url}/api/audit?limit=500`, { headers: { authorization: `Bearer ${dash.tokens.admin}` } });
  const entries = (await r.json()).entries as { action: string; target: string; outcome: string; actor: string; actorRole: string; clientAddress: string }[];
  const find = (action: string, outcome = "ok") => entries.find((e) => e.action === action && e.outcome === outcome);
  expect(find("auth.login")).toMatchObject({ clientAddress: "127.0.0.1" });
  expect(find("auth.login", "failed")).toMatchObject({ actor: "anonymous", clientAddress: "127.0.0.1" });
  expect(find("auth.login", "rate limited")).toMatchObject({ target: "forgetful" });
  expect(find("user.role")).toMatchObject({ target: "carol", actor: "admin", actorRole: "admin", clientAddress: "127.0.0.1" });
  expect(find("token.create")).toMatchObject({ target: "prometheus", actor: "admin" });
  expect(find("token.use")).toMatchObject({ actor: "prometheus", actorRole: "viewer" });
  expect(entries.find((e) => e.action === "node.cordon" && e.target === "pi-2")).toMatchObject({
    actor: "operator",
    actorRole: "operator",
    clientAddress: "127.0.0.1",
  });
  expect(JSON.stringify(entries)).not.toContain("carol-password-123");
});

test.describe("sessions that end", () => {
  let short: RunningDashboard;
  test.beforeAll(async () => {
    // Short enough to wait for, long enough for a page to load on a busy machine.
    short = await startDashboard({ env: { LIFEBOAT_SESSION_IDLE_SECONDS: "8", LIFEBOAT_SESSION_MAX_SECONDS: "30" } });
    // A page's first render on a new server loads its modules; on a loaded machine that once took
    // longer than the idle time, so the layout (which checks the session again) rendered signed out.
    await warmPages(short, ["/backups", "/audit"]);
  });
  test.afterAll(async () => {
    await short?.stop();
  });

  // Both clocks are waits, not work: the two users' timelines run side by side in two browser contexts
  // (~32 s instead of ~50 s one after the other).
  test("after the idle time the next page asks to sign in again, an open page goes there by itself; a session in use still ends at its absolute end", async ({
    browser,
  }) => {
    const idle = await browser.newContext();
    const busy = await browser.newContext();
    try {
      await Promise.all([
        test.step("idle: the next page asks to sign in; an open page goes there by itself", async () => {
          const page = await idle.newPage();
          await signIn(page, short, "viewer");
          await page.goto(short.url + "/backups");
          await expect(page.getByTestId("signed-in-as")).toHaveText("viewer");
          // Off the dashboard while idle: the open page's own requests (its first fetches land after it
          // loads, later on a loaded machine; the protection line polls every 10 s) would count as use.
          await page.goto("about:blank");
          await page.waitForTimeout(9000);
          await page.goto(short.url + "/backups");
          await expect(page).toHaveURL(/\/login\?next=%2Fbackups$/);
          // An open page whose session ends: its next API call (the audit log polls) leads to sign-in.
          await signIn(page, short, "viewer");
          await page.goto(short.url + "/audit");
          await expect(page.getByRole("heading", { name: "Audit log" })).toBeVisible();
          await expect(page).toHaveURL(/\/login\?next=%2Faudit$/, { timeout: 30_000 });
        }),
        test.step("in use: over at the absolute end", async () => {
          const page = await busy.newPage();
          // The session starts somewhere inside signIn: a page is held to "still signed in" when it
          // finished loading within 26 s of before it (a loaded CI machine once landed a page after
          // the end), and the final check waits from after it.
          const before = Date.now();
          await signIn(page, short, "viewer");
          const after = Date.now();
          // In use: a request every second beside the page loads, so the session is never idle for 8 s
          // however long a page takes to load on a loaded machine (a CI run once lost it that way: its
          // page loads alone, ~2 s apart, left gaps past the idle time). The answers say when it ended.
          const answers: { at: number; status: number }[] = [];
          let using = true;
          const use = (async () => {
            while (using && Date.now() - after < 28_000) {
              const status = (await page.request.get(short.url + "/api/auth/me")).status();
              answers.push({ at: Date.now(), status });
              await new Promise((r) => setTimeout(r, 1000));
            }
          })();
          try {
            while (Date.now() - after < 28_000) {
              await page.goto(short.url + "/backups");
              if (Date.now() - before < 26_000) await expect(page.getByTestId("signed-in-as")).toHaveText("viewer");
              await page.waitForTimeout(2000);
            }
          } finally {
            using = false;
            await use;
          }
          // Every answer that came back before the absolute end (less a second) was "signed in", and
          // the session was used past the idle time several times over.
          const early = answers.filter((a) => a.at - before < 29_000);
          expect(early.filter((a) => a.at - after > 8_000).length).toBeGreaterThan(0);
          expect(early.filter((a) => a.status !== 200)).toEqual([]);
          await page.waitForTimeout(Math.max(0, 30_500 - (Date.now() - after)));
          await page.goto(short.url + "/backups");
          await expect(page).toHaveURL(/\/login\?next=%2Fbackups$/);
        }),
      ]);
    } finally {
      await idle.close();
      await busy.close();
    }
  });
});

test.describe("single sign-on behind a reverse proxy (LIFEBOAT_AUTH=proxy)", () => {
  let trusted: RunningDashboard;
  let elsewhere: RunningDashboard;
  const sso = { "Remote-User": "alice", "Remote-Groups": "users,lifeboat-ops" };
  const proxyEnv = (proxies: string) => ({
    LIFEBOAT_AUTH: "proxy",
    LIFEBOAT_TRUSTED_PROXIES: proxies,
    LIFEBOAT_PROXY_ROLES: "lifeboat-ops=operator, lifeboat-admins=admin",
  });
  test.beforeAll(async () => {
    // This browser reaches the dashboard from 127.0.0.1: a trusted proxy for one, a stranger for the other.
    trusted = await startDashboard({ env: proxyEnv("127.0.0.1") });
    elsewhere = await startDashboard({ env: proxyEnv("10.9.9.9") });
  });
  test.afterAll(async () => {
    await trusted?.stop();
    await elsewhere?.stop();
  });

  test("a user header from a trusted proxy signs the user in with the role their groups map to", async ({ browser }, testInfo) => {
    const context = await browser.newContext({ extraHTTPHeaders: sso });
    const page = await context.newPage();
    await page.goto(trusted.url + "/backups");
    await expect(page.getByTestId("signed-in-as")).toHaveText("alice");
    await expect(page.getByRole("button", { name: /Refresh/ })).toBeVisible();
    await page.getByRole("button", { name: /Refresh/ }).click();
    await keepScreenshot(page, testInfo, "auth-proxy-signed-in");
    expect(await (await page.request.get(trusted.url + "/api/auth/me")).json()).toMatchObject({ name: "alice", role: "operator", kind: "proxy" });
    await page.goto(trusted.url + "/restore");
    await expect(page.getByRole("heading", { name: "No access" })).toBeVisible();
    await context.close();
    const audit = await (await fetch(`${trusted.url}/api/audit?prefix=catalog.`, { headers: { authorization: `Bearer ${trusted.tokens.admin}` } })).json();
    expect(audit.entries[0]).toMatchObject({ action: "catalog.refresh", actor: "alice", actorRole: "operator", clientAddress: "127.0.0.1" });
  });

  test("the same headers from any other address are ignored, however the client dresses them up", async ({ browser }) => {
    const context = await browser.newContext({ extraHTTPHeaders: { ...sso, "X-Forwarded-For": "10.9.9.9", "X-Lifeboat-Peer": "10.9.9.9" } });
    const page = await context.newPage();
    await page.goto(elsewhere.url + "/backups");
    await expect(page).toHaveURL(/\/login\?next=%2Fbackups$/);
    expect((await page.request.get(elsewhere.url + "/api/auth/me")).status()).toBe(401);
    await context.close();
  });
});
