import { test, expect } from "@playwright/test";
import { startDashboard, type RunningDashboard } from "./support/dashboard";

let dash: RunningDashboard;
test.beforeAll(async () => {
  dash = await startDashboard();
});
test.afterAll(async () => {
  await dash?.stop();
});

test("the shell renders with its navigation", async ({ page }) => {
  await page.goto(dash.url + "/nowhere");
  await expect(page.getByRole("navigation", { name: "Main" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Not found" })).toBeVisible();
});
