import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { test, expect } from "@playwright/test";
import { startEmbeddedS3, type EmbeddedS3 } from "../lib/storage/embedded-s3";
import { S3BackupStore } from "../lib/storage/s3-backup-store";
import { seedObjectNames } from "../lib/contracts/backup-names";
import { makeTestServerDir } from "../agent/testing/test-server-dir";
import { startHttpReceiver, type HttpReceiver } from "../lib/notify/testing/receivers";
import { startDashboard, type RunningDashboard } from "./support/dashboard";
import { startAgent, type RunningAgent } from "./support/agent";
import { signIn } from "./support/auth";
import { keepScreenshot } from "./support/screenshot";
import { AlertsPage, NotificationsPage } from "./pages/alerts-pages";

// Alerts and notifications in Chromium: a bucket whose newest night is the incident's growth, a real
// agent whose database files drifted to mode 0644, a real receiver on loopback. The alerts fire with
// nobody told; a channel added on Settings → Notifications gets "Send a test" and then the firing
// alerts once; a normal night resolves the growth and the receiver hears that too.

const DAY = 86_400_000;
// The newest night is 6 hours old, whatever the time of day the suite runs: "yesterday at midnight"
// is over 1.5 days old after noon, and the stale alert would fire (and resolve) as well.
const lastNight = Math.floor(Date.now() / 60_000) * 60_000 - 6 * 3_600_000;
const SIZES = [53.9, 54.2, 53.7, 54.4, 54.0, 53.9, 54.1, 54.3, 228.3]; // kB; the incident's 228 "MB" scaled down

let work: string;
let s3: EmbeddedS3;
let store: S3BackupStore;
let receiver: HttpReceiver;
let agent: RunningAgent;
let dash: RunningDashboard;

async function putNight(time: number, kb: number): Promise<void> {
  const n = seedObjectNames(new Date(time));
  await store.put(`k3s/${n.fileArchive}`, Readable.from([Buffer.alloc(Math.round(kb * 1000), 1)]));
  await store.put(`k3s/${n.logical}`, Readable.from([Buffer.alloc(Math.round(kb * 1300), 2)]));
}

test.describe.configure({ mode: "serial" });

test.beforeAll(async ({}, testInfo) => {
  testInfo.setTimeout(180_000);
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-e2e-alerts-"));
  s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["backups"] });
  store = new S3BackupStore({ endpoint: s3.endpoint, bucket: "backups", accessKeyId: "S3RVER", secretAccessKey: "S3RVER", region: "us-east-1" });
  for (let i = 0; i < SIZES.length; i++) await putNight(lastNight - (SIZES.length - 1 - i) * DAY, SIZES[i]);
  receiver = await startHttpReceiver();
  const server = makeTestServerDir(path.join(work, "k3s"), { targetBytes: 1_500_000, seed: 5 });
  agent = await startAgent({
    LIFEBOAT_K3S_SERVER_DIR: server.serverDir,
    LIFEBOAT_STATE_DIR: path.join(work, "agent-state"),
    LIFEBOAT_BACKUP_DIR: path.join(work, "agent-store"),
    LIFEBOAT_OWNER: `${process.getuid!()}:${process.getgid!()}`,
    LIFEBOAT_BACKUP_SCHEDULE: "off",
    LIFEBOAT_INTEGRITY_SCHEDULE: "off",
    LOG_LEVEL: "warn",
  });
  dash = await startDashboard({
    env: {
      AWS_S3_ENDPOINT: s3.endpoint,
      AWS_S3_BUCKET: "backups",
      AWS_S3_PATH: "k3s",
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
      ...agent.dashboardEnv,
      LIFEBOAT_PUBLIC_URL: "https://lifeboat.example.com",
      // The normal night resolves the growth on the refresh that sees it (the default waits 15 minutes of clear evaluations).
      LIFEBOAT_ALERT_RESOLVE_MINUTES: "0",
    },
  });
});

test.afterAll(async () => {
  await dash?.stop();
  await agent?.stop();
  await receiver?.close();
  await s3?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

// Every page and API asks for a signed-in user: an admin, who may add channels and refresh.
test.beforeEach(async ({ page }) => signIn(page, dash, "admin"));

test("the growth fires one critical alert per kind, the drifted files a warning, and nobody is told yet", async ({ page }, testInfo) => {
  const alerts = new AlertsPage(page, dash.url);
  // A refresh lists the bucket and evaluates the rules (the Backups page would also start restore
  // drills, which fail on these made-up archives: that is another test's story).
  expect((await page.request.post(dash.url + "/api/catalog/refresh", { headers: { origin: dash.url }, data: {} })).ok()).toBe(true);
  await alerts.goto();
  await expect(alerts.alert("LifeboatBackupGrowth:file-archive")).toBeVisible();
  await expect(alerts.alert("LifeboatBackupGrowth:logical")).toContainText("Critical");
  await expect(alerts.alert("LifeboatBackupGrowth:file-archive")).toContainText(/228\.3 KB is 4\.\d+× the median of the previous 7 file archives/);
  await expect(alerts.alert("LifeboatOwnerModeDrift")).toContainText(/mode 0644, expected 0600/);
  await expect(page.getByRole("status").filter({ hasText: "Alerts are delivered nowhere" })).toBeVisible();
  await expect(alerts.alert("LifeboatBackupGrowth:logical").getByTestId("alert-delivery")).toHaveText(
    "Delivered nowhere: no notification channel is configured.",
  );
  await expect(alerts.navCount).toHaveText(String(await alerts.firing.count()));
  expect(receiver.requests).toHaveLength(0);
  await keepScreenshot(page, testInfo, "alerts-firing-nobody-told");

  await alerts.alert("LifeboatOwnerModeDrift").getByRole("link", { name: "What this means and what to do" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Owner or mode drifted");
  await expect(page.getByTestId("alert-summary")).toContainText("chmod");
  await keepScreenshot(page, testInfo, "alert-detail-owner-drift");
});

test("Settings → Notifications: add a signed webhook, send a test, and the firing alerts reach it once", async ({ page }, testInfo) => {
  const settings = new NotificationsPage(page, dash.url);
  await settings.goto();
  await expect(page.getByText("No channel yet")).toBeVisible();
  await keepScreenshot(page, testInfo, "settings-notifications-empty");
  await settings.addChannel("Webhook (JSON)", "Ops webhook", { URL: `${receiver.url}/hooks/ops-abcdef123456`, "Signing secret (optional)": "e2e-secret" });
  const row = settings.channel("Ops webhook");
  await expect(row).toContainText(`${receiver.url}/…3456`);
  await expect(page.locator("body")).not.toContainText("ops-abcdef123456");
  await expect(page.locator("body")).not.toContainText("e2e-secret");

  await row.getByRole("button", { name: "Send a test" }).click();
  await expect(row.getByTestId("test-result")).toHaveText(/^Test delivered \(200\) in \d+ ms\.$/);
  await keepScreenshot(page, testInfo, "settings-notifications-send-a-test");
  const bodies = () => receiver.requests.filter((r) => r.path === "/hooks/ops-abcdef123456").map((r) => JSON.parse(r.body) as Record<string, string>);
  expect(bodies().filter((b) => b.alert === "LifeboatTest")).toEqual([expect.objectContaining({ test: true, state: "firing" })]);
  expect(receiver.requests.every((r) => /^sha256=[0-9a-f]{64}$/.test(String(r.headers["x-lifeboat-signature"])))).toBe(true);

  // Adding the channel sent it what fires now, once each.
  const firing = ((await (await page.request.get(dash.url + "/api/alerts")).json()) as { firing: { key: string }[] }).firing.map((a) => a.key).sort();
  expect(firing).toEqual(expect.arrayContaining(["LifeboatBackupGrowth:file-archive", "LifeboatBackupGrowth:logical", "LifeboatOwnerModeDrift"]));
  await expect
    .poll(() =>
      bodies()
        .filter((b) => b.state === "firing" && !("test" in b))
        .map((b) => b.key)
        .sort(),
    )
    .toEqual(firing);
  const growth = bodies().filter((b) => b.alert === "LifeboatBackupGrowth");
  expect(growth.map((b) => b.severity)).toEqual(["critical", "critical"]);
  expect(growth[0].url).toMatch(/^https:\/\/lifeboat\.example\.com\/backups\/seed-/);
  await page.reload();
  await expect(page.getByTestId("delivery-log")).toContainText("LifeboatBackupGrowth:file-archive");
  await keepScreenshot(page, testInfo, "settings-notifications-test-sent");

  const alerts = new AlertsPage(page, dash.url);
  await alerts.goto();
  await expect(alerts.alert("LifeboatBackupGrowth:file-archive").getByTestId("alert-delivery")).toContainText("Ops webhook: firing delivered (200)");
  await keepScreenshot(page, testInfo, "alerts-delivered");
});

test("a wrong URL fails its test with the status, and the secret stays out of the page", async ({ page }) => {
  receiver.respond("/nope", [404]);
  const settings = new NotificationsPage(page, dash.url);
  await settings.goto();
  await settings.addChannel("Slack-compatible", "Broken Slack", { "Webhook URL": `${receiver.url}/nope` });
  await settings.channel("Broken Slack").getByRole("button", { name: "Send a test" }).click();
  await expect(settings.channel("Broken Slack").getByTestId("test-result")).toHaveText(
    "Test failed: HTTP 404: no such webhook or topic (check the URL) (404).",
  );
  await settings.channel("Broken Slack").getByRole("button", { name: "Delete" }).click();
  await page.getByRole("button", { name: "Delete", exact: true }).last().click();
  await expect(settings.channel("Broken Slack")).toHaveCount(0);
});

test("a normal night resolves the growth: history on the page, a resolve at the receiver", async ({ page }, testInfo) => {
  await putNight(lastNight + 4 * 3_600_000, 54.6);
  const res = await page.request.post(dash.url + "/api/catalog/refresh", { headers: { origin: dash.url }, data: {} });
  expect(res.ok()).toBe(true);
  const alerts = new AlertsPage(page, dash.url);
  await alerts.goto();
  await expect(alerts.history.filter({ hasText: "LifeboatBackupGrowth:file-archive" })).toHaveCount(1);
  await expect(alerts.alert("LifeboatBackupGrowth:file-archive")).toHaveCount(0);
  await expect(alerts.navCount).toHaveText("1"); // the drifted files still fire
  await expect.poll(() => receiver.requests.filter((r) => r.path === "/hooks/ops-abcdef123456" && JSON.parse(r.body).state === "resolved").length).toBe(2);
  await keepScreenshot(page, testInfo, "alerts-history-resolved");
});

test("GET /api/metrics: the flags, the alerts' states and the catalog's refreshes, in Prometheus's format", async ({ page }) => {
  const res = await page.request.get(dash.url + "/api/metrics");
  expect(res.headers()["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  expect(text).toContain('lifeboat_alert_state{alert="LifeboatBackupGrowth"} 0');
  expect(text).toContain('lifeboat_alert_state{alert="LifeboatOwnerModeDrift"} 1');
  expect(text).toMatch(/lifeboat_backup_anomaly_level\{kind="file-archive",format="seed",type="growth"\} 0/);
  expect(text).toMatch(/lifeboat_catalog_last_refresh_success 1/);
  expect(text).toMatch(/lifeboat_agent_up 1/);
  expect(text).toMatch(/lifeboat_catalog_refresh_duration_seconds_count\{result="success"\} [1-9]/);
});
