import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { test, expect } from "@playwright/test";
import { startDashboard, killGroup, type RunningDashboard } from "./support/dashboard";
import { launcherAccounts, signIn } from "./support/auth";
import { startDemoLauncher, type RunningDemo } from "./support/demo-launcher";
import { keepScreenshot } from "./support/screenshot";
import { expectFitsPhone, PHONE } from "./support/layout";
import { BackupsPage } from "./pages/backups-page";
import { S3BackupStore } from "../lib/storage/s3-backup-store";
import { lifeboatObjectNames } from "../lib/contracts/backup-names";

// The first run as a newcomer has it: `npm start`'s launcher with a fresh data directory (embedded S3,
// demo history, demo agent, dashboard), then the same history when S3 goes away.
let demo: RunningDemo;
let output = "";
let url = "";
let dataDir = "";
let newestId = "";

test.describe.configure({ mode: "serial" });

test.beforeAll(async ({}, testInfo) => {
  testInfo.setTimeout(240_000);
  const started = Date.now();
  demo = await startDemoLauncher("lifeboat-e2e-backups-");
  ({ url, dataDir } = demo);
  output = demo.output();
  console.log(`npm start (fresh data dir, build present) was ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test.afterAll(async () => {
  await demo?.stop();
});

test("npm start prints where to open the dashboard, that this is demo data, and the first admin's password once", async () => {
  expect(output).toContain("This is DEMO data");
  expect(output).toContain("AWS_S3_BUCKET=");
  expect(output).toMatch(/demo: 90 backup sets/);
  expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  // The demo agent speaks HTTPS, pinned by its certificate's fingerprint, like a real one.
  expect(output).toMatch(/Demo agent .* at https:\/\/127\.0\.0\.1:\d+, pinned by its certificate's fingerprint/);
  const file = path.join(dataDir, "initial-admin-password");
  expect(statSync(file).mode & 0o777).toBe(0o600);
  const password = readFileSync(file, "utf8").trim();
  expect(password).toMatch(/^[A-Za-z0-9]{24}$/);
  expect(output).toContain(`First run: sign in as  admin  with the password\n\n  ${password}\n`);
  expect(output.split(password).length - 1).toBe(1);
  expect(statSync(dataDir).mode & 0o777).toBe(0o700);
  expect(statSync(path.join(dataDir, "lifeboat.db")).mode & 0o777).toBe(0o600);
});

// npm start's first admin; the last test restarts the dashboard and signs in as its operator.
test.beforeEach(async ({ page }, testInfo) => {
  if (!testInfo.title.startsWith("when S3 goes away")) await signIn(page, launcherAccounts(url, dataDir));
});

test("the history shows the demo's 90 sets, the chart and the critical growth", async ({ page }, testInfo) => {
  const backups = new BackupsPage(page, url);
  await page.goto(url + "/");
  await expect(page).toHaveURL(/\/backups$/);
  await expect(page.getByRole("navigation", { name: "Main" })).toBeVisible();
  await expect(page.getByRole("status").filter({ hasText: "Demo data" })).toBeVisible();
  await expect(backups.freshness).toContainText(/Updated .* ago · 180 objects/);
  await expect(backups.rows).toHaveCount(50);
  await expect(page.getByText("1–50 of 90")).toBeVisible();
  const first = backups.rows.first();
  newestId = (await first.getAttribute("data-set-id"))!;
  expect(newestId).toMatch(/^seed-\d{4}-\d{2}-\d{2}_00-00-\d{2}$/);
  await expect(first.getByText(/Growth \d+(\.\d)?×/)).toBeVisible();
  await expect(first.locator("span", { hasText: "(critical)" }).first()).toBeAttached();
  await expect(backups.rows.nth(1).getByText(/Growth 1\.\d×/)).toBeVisible();
  await expect(backups.chart.locator("canvas").first()).toBeVisible();
  await expect(backups.chartFlags("critical")).toHaveCount(2); // file archive and logical backup
  await expect(backups.chartFlags("warning")).toHaveCount(3); // both parts at 80.51, and the gap
  await keepScreenshot(page, testInfo, "backups-history");
});

test("on a phone the history fits the screen: the navigation wraps above it, the table scrolls in its card", async ({ page }) => {
  await page.setViewportSize(PHONE);
  const backups = new BackupsPage(page, url);
  await backups.goto();
  await expect(backups.rows).toHaveCount(50);
  // Each section's link stays on one line (a two-line "Restore master" was the column layout's).
  const nav = page.getByRole("navigation", { name: "Main" });
  for (const name of ["Restore master", "Migrate worker"]) expect((await nav.getByRole("link", { name }).boundingBox())!.height).toBeLessThan(40);
  expect((await page.locator("header").boundingBox())!.height).toBeLessThan(200);
  await expectFitsPhone(page);
  // The table is wider than the phone and scrolls inside its card.
  const table = page.getByTestId("history-table");
  expect(await table.evaluate((t) => t.parentElement!.scrollWidth > t.parentElement!.clientWidth)).toBe(true);
  await page.goto(`${url}/backups/${newestId}`);
  await expect(page.getByTestId("set-objects")).toBeVisible();
  await expectFitsPhone(page);
});

test("a critical point on the chart opens that backup's detail page with the reason in words", async ({ page }, testInfo) => {
  const backups = new BackupsPage(page, url);
  await backups.goto();
  await backups.chartFlags("critical").first().click();
  await expect(page).toHaveURL(new RegExp(`/backups/${newestId}$`));
  await expect(page.getByRole("heading", { level: 1 })).toContainText("Backup of");
  const flags = page.getByTestId("set-anomalies");
  await expect(flags.getByText("Critical · Growth")).toHaveCount(2);
  await expect(flags).toContainText(/is \d+\.\d+× the median of the previous 7 file archives .*stuck compaction/);
  const objects = page.getByTestId("set-objects").locator("tbody tr");
  await expect(objects).toHaveCount(2);
  await expect(objects.first()).toContainText("k3s_db_");
  await expect(objects.nth(1)).toContainText("state_");
  // A seed set has no manifest: its statistics come from its restore drill, once that has run.
  await expect(page.getByRole("heading", { name: /^Database statistics( \(restore drill\))?$/ })).toBeVisible();
  await keepScreenshot(page, testInfo, "backups-detail-critical");
  await page.getByRole("link", { name: "Older →" }).click();
  await expect(page.getByTestId("set-anomalies")).toContainText("Warning · Growth");
});

test("the demo's growth fires its alert, delivered nowhere until a channel is configured", async ({ page }, testInfo) => {
  await page.goto(url + "/alerts");
  const growth = page.locator('[data-testid=firing-alert][data-alert-key="LifeboatBackupGrowth:file-archive"]');
  await expect(growth).toContainText("Critical");
  await expect(growth).toContainText(newestId);
  await expect(growth.getByTestId("alert-delivery")).toHaveText("Delivered nowhere: no notification channel is configured.");
  await expect(page.getByRole("status").filter({ hasText: "Alerts are delivered nowhere" })).toBeVisible();
  await expect(page.getByRole("navigation", { name: "Main" }).getByTestId("alert-count")).toBeVisible();
  await keepScreenshot(page, testInfo, "demo-alerts");
});

test("the history filters by flag", async ({ page }, testInfo) => {
  const backups = new BackupsPage(page, url);
  await backups.goto();
  await backups.filter("Critical");
  await expect(page).toHaveURL(/\?flag=critical$/);
  await expect(backups.rows).toHaveCount(1);
  await expect(backups.row(newestId)).toBeVisible();
  await keepScreenshot(page, testInfo, "backups-filter-critical");
  await backups.filter("Gap");
  await expect(backups.rows).toHaveCount(1);
  await expect(backups.rows.first()).toContainText("Gap 2.0×");
  await backups.filter("Flagged");
  await expect(backups.rows).toHaveCount(3);
  await backups.filter("All");
  await expect(backups.rows).toHaveCount(50);
  await page.getByRole("link", { name: "Older →" }).click();
  await expect(backups.rows).toHaveCount(40);
});

test("Refresh lists the store again and says how fresh the view is", async ({ page }) => {
  const backups = new BackupsPage(page, url);
  await backups.goto();
  await backups.refresh();
  await expect(backups.freshness).toContainText(/Updated \d+ s ago/);
  await expect(backups.errorBanner).toHaveCount(0);
});

test("another cluster's newer set in a folder below the store is listed apart, not as the newest backup", async ({ page }) => {
  const endpoint = `http://127.0.0.1:${readFileSync(path.join(dataDir, "s3", ".port"), "utf8").trim()}`;
  const store = new S3BackupStore({ endpoint, bucket: "lifeboat-demo", accessKeyId: "S3RVER", secretAccessKey: "S3RVER", region: "us-east-1" });
  const names = lifeboatObjectNames(new Date());
  for (const key of Object.values(names)) await store.put(`cluster-b/${key}`, Readable.from([Buffer.alloc(50_000, 1)]));
  const backups = new BackupsPage(page, url);
  await backups.goto();
  await backups.refresh();
  await expect(page.getByText("1–50 of 90")).toBeVisible();
  await expect(backups.rows.first()).toHaveAttribute("data-set-id", newestId);
  await expect(page.getByRole("heading", { name: "Sets in folders below this store (1)" })).toBeVisible();
  await expect(page.getByTestId("folder-set")).toHaveCount(1);
  await expect(page.getByTestId("folder-set")).toContainText("cluster-b/");
  for (const key of Object.values(names)) await store.delete(`cluster-b/${key}`);
});

test("unknown pages and sets show the shell with a clear message", async ({ page }) => {
  await page.goto(url + "/nowhere");
  await expect(page.getByRole("navigation", { name: "Main" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Not found" })).toBeVisible();
  await page.goto(url + "/backups/seed-1999-01-01_00-00-00");
  await expect(page.getByText("No such backup set")).toBeVisible();
});

test("when S3 goes away, a banner names endpoint, bucket and cause over the last good listing", async ({ page }, testInfo) => {
  const endpoint = `http://127.0.0.1:${readFileSync(path.join(dataDir, "s3", ".port"), "utf8").trim()}`;
  // Stopping npm start stops everything it started, the embedded store included.
  await killGroup(demo.process);
  await expect(
    fetch(endpoint).then(
      () => "up",
      () => "down",
    ),
  ).resolves.toBe("down");
  await expect(
    fetch(url + "/api/livez").then(
      () => "up",
      () => "down",
    ),
  ).resolves.toBe("down");
  let dash: RunningDashboard | undefined;
  try {
    dash = await startDashboard({
      dataDir,
      env: { AWS_S3_ENDPOINT: endpoint, AWS_S3_BUCKET: "lifeboat-demo", AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", LIFEBOAT_BUILD: "never" },
    });
    await signIn(page, dash, "operator");
    const backups = new BackupsPage(page, dash.url);
    await backups.goto();
    await expect(backups.rows).toHaveCount(50); // from the cache: no listing needed
    await backups.refresh();
    const banner = backups.errorBanner;
    await expect(banner).toContainText("Cannot reach the backup store");
    await expect(banner).toContainText(endpoint);
    await expect(banner).toContainText("bucket lifeboat-demo");
    await expect(banner.getByTestId("store-error-cause")).toContainText(/cannot reach the endpoint \(ECONNREFUSED\)/);
    await expect(banner).toContainText("Showing the last good listing");
    await expect(banner).not.toContainText("S3RVER");
    await expect(backups.rows).toHaveCount(50);
    await expect(backups.row(newestId)).toBeVisible();
    await keepScreenshot(page, testInfo, "backups-s3-down");
  } finally {
    await dash?.stop();
  }
});
