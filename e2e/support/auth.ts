import { readFileSync } from "node:fs";
import path from "node:path";
import { expect, type Page } from "@playwright/test";
import type { Role } from "../../lib/contracts/auth";
import type { Credentials } from "./dashboard";

/** What signIn needs: where the dashboard is and its accounts (a RunningDashboard, or launcherAccounts for npm start). */
export interface SignInTarget {
  url: string;
  credentials: Partial<Record<Role, Credentials>>;
}

/**
 * Signs `page`'s browser context in as `role` (default admin) through the sign-in API, the way the
 * sign-in form does, so the next page.goto lands signed in. Fails the test when sign-in is refused.
 */
export async function signIn(page: Page, dashboard: SignInTarget, role: Role = "admin"): Promise<void> {
  const who = dashboard.credentials[role];
  if (!who) throw new Error(`no ${role} account on this dashboard`);
  const res = await page.request.post(`${dashboard.url}/api/auth/login`, {
    data: { name: who.name, password: who.password },
    headers: { origin: dashboard.url },
  });
  expect(res.status(), `sign-in as ${role}: ${await res.text()}`).toBe(200);
}

/** Fills and sends the sign-in form on the page `page` is on (the sign-in page), as a person does. */
export async function submitSignInForm(page: Page, who: Credentials): Promise<void> {
  await page.getByLabel("User name").fill(who.name);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** The accounts of a dashboard `npm start` made on a first run: admin, with the password it wrote to the data dir. */
export function launcherAccounts(url: string, dataDir: string): SignInTarget {
  return { url, credentials: { admin: { name: "admin", password: readFileSync(path.join(dataDir, "initial-admin-password"), "utf8").trim() } } };
}
