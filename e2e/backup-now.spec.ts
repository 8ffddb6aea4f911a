import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test, expect } from "@playwright/test";
import { startEmbeddedS3, type EmbeddedS3 } from "../lib/storage/embedded-s3";
import { makeTestServerDir } from "../agent/testing/test-server-dir";
import { startDashboard, type RunningDashboard } from "./support/dashboard";
import { startAgent, type RunningAgent } from "./support/agent";
import { signIn } from "./support/auth";
import { keepScreenshot } from "./support/screenshot";
import { BackupsPage } from "./pages/backups-page";

// "Back up now" end to end: Chromium → the dashboard server → a real `lifeboat-agent serve` (its own
// process) → snapshot of a kine database → s3rver; then the new set in the history and its page.
let work: string;
let s3: EmbeddedS3;
let agent: RunningAgent;
let dash: RunningDashboard;

test.describe.configure({ mode: "serial" });

test.beforeAll(async ({}, testInfo) => {
  testInfo.setTimeout(180_000);
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-e2e-backup-now-"));
  s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["backups"] });
  // Big enough (~40 MB, compaction stalled) that the backup takes a moment and its progress shows.
  const server = makeTestServerDir(path.join(work, "k3s"), { targetBytes: 40_000_000, seed: 21 });
  const passphrase = path.join(work, "passphrase");
  writeFileSync(passphrase, "e2e backup passphrase\n", { mode: 0o400 });
  const store = { AWS_S3_ENDPOINT: s3.endpoint, AWS_S3_BUCKET: "backups", AWS_S3_PATH: "k3s", AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" };
  agent = await startAgent({
    ...store,
    LIFEBOAT_K3S_SERVER_DIR: server.serverDir,
    LIFEBOAT_STATE_DIR: path.join(work, "agent-state"),
    LIFEBOAT_PASSPHRASE_FILE: passphrase,
    LIFEBOAT_BACKUP_SCHEDULE: "off",
    LIFEBOAT_INTEGRITY_SCHEDULE: "off",
    LOG_LEVEL: "warn",
  });
  dash = await startDashboard({ env: { ...store, ...agent.dashboardEnv } });
});

// An operator backs up: the least role that may.
test.beforeEach(async ({ page }) => signIn(page, dash, "operator"));

test.afterAll(async () => {
  await dash?.stop();
  await agent?.stop();
  await s3?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test("Back up now shows live progress, and the new set appears in the history with its manifest statistics", async ({ page }, testInfo) => {
  const backups = new BackupsPage(page, dash.url);
  await backups.goto();
  await expect(backups.rows).toHaveCount(0);
  await keepScreenshot(page, testInfo, "backup-now-before");

  await page.getByRole("button", { name: "Back up now" }).click();
  const progress = page.getByRole("progressbar", { name: "Backup progress" });
  await expect(progress).toBeVisible();
  await expect(page.getByRole("button", { name: "Backing up…" })).toBeDisabled();
  await expect(page.locator("#backup-now-status")).toContainText(/step \d of 7/);
  await keepScreenshot(page, testInfo, "backup-now-progress");

  const status = page.locator("#backup-now-status");
  await expect(status.getByText("Backup complete")).toBeVisible({ timeout: 120_000 });
  await expect(status).toContainText("integrity_check: ok");
  const link = status.getByRole("link", { name: /^lifeboat-\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}$/ });
  const setId = (await link.textContent())!;

  // The dashboard refreshed its catalog before reporting success: the set is in the history at once.
  await expect(backups.row(setId)).toBeVisible();
  await expect(backups.rows).toHaveCount(1);
  // One backup: the chart shows a day around it (not an empty range stretched over years).
  const chart = page.getByTestId("size-chart");
  await expect(chart).toHaveAttribute("data-x-min", /\d/);
  const [xMin, xMax] = [Number(await chart.getAttribute("data-x-min")), Number(await chart.getAttribute("data-x-max"))];
  const taken = Date.parse(setId.replace(/^lifeboat-(\d{4}-\d{2}-\d{2})_(\d{2})-(\d{2})-(\d{2})$/, "$1T$2:$3:$4Z")) / 1000;
  expect(taken).toBeGreaterThan(xMin);
  expect(taken).toBeLessThan(xMax);
  expect(xMax - xMin).toBeLessThanOrEqual(2 * 86_400);
  await keepScreenshot(page, testInfo, "backup-now-done");

  await link.click();
  await expect(page).toHaveURL(new RegExp(`/backups/${setId}$`));
  await expect(page.getByTestId("set-objects").locator("tbody tr")).toHaveCount(3); // the database once, the secrets archive, the manifest
  const stats = page.getByText("Database statistics (manifest)").locator("xpath=ancestor::section[1]");
  await expect(stats.getByText("Rows in kine")).toBeVisible();
  await expect(stats.getByText("Snapshot method")).toBeVisible();
  await expect(stats).toContainText("vacuum-into");
  await expect(stats.getByText("/registry/leases").first()).toBeVisible();
  await keepScreenshot(page, testInfo, "backup-now-set-detail");
});

test("a second click while nothing runs starts another backup; errors from the agent are shown as sentences", async ({ page }, testInfo) => {
  const backups = new BackupsPage(page, dash.url);
  await backups.goto();
  await page.getByRole("button", { name: "Back up now" }).click();
  await expect(page.locator("#backup-now-status").getByText("Backup complete")).toBeVisible({ timeout: 120_000 });
  await expect(backups.rows).toHaveCount(2);

  // The agent goes away: the button says so instead of failing silently.
  await agent.stop();
  await page.getByRole("button", { name: "Close" }).click();
  await page.getByRole("button", { name: "Back up now" }).click();
  await expect(page.locator("#backup-now-status").getByRole("alert")).toContainText(/Cannot reach the agent/);
  await expect(page.locator("#backup-now-status")).toContainText("Backup failed");
  await expect(page.locator("#backup-now-status")).not.toContainText("is in the store");
  await keepScreenshot(page, testInfo, "backup-now-agent-down");
});
