import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test, expect, request } from "@playwright/test";
import { startEmbeddedS3, type EmbeddedS3 } from "../lib/storage/embedded-s3";
import type { TestServer } from "../agent/testing/restore-fixtures";
import { agentEnv, makeServer, passphraseFile, runK3s, startAgent, type RunningAgent } from "./support/agent";
import { startDashboard, type RunningDashboard } from "./support/dashboard";
import { signIn } from "./support/auth";
import { keepScreenshot } from "./support/screenshot";
import { BackupsPage } from "./pages/backups-page";
import { AlertsPage } from "./pages/alerts-pages";

// Continuous protection on the backups page: a real `lifeboat-agent serve` shipping the log of a
// server whose kine-like writer runs, to s3rver; the line waits for its first base, then says how
// far the cluster is protected.
let work: string;
let s3: EmbeddedS3;
let server: TestServer;
let agent: RunningAgent;
let dash: RunningDashboard;

test.describe.configure({ mode: "serial" });

test.beforeAll(async ({}, testInfo) => {
  testInfo.setTimeout(180_000);
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-e2e-continuous-"));
  s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["backups"] });
  server = makeServer(path.join(work, "k3s"), { seed: 16, marker: "marker-LOG" });
  runK3s(server, "start");
  const store = { AWS_S3_ENDPOINT: s3.endpoint, AWS_S3_BUCKET: "backups", AWS_S3_PATH: "k3s", AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" };
  agent = await startAgent(agentEnv(server, store, passphraseFile(work, "passphrase", "e2e log passphrase"), { LIFEBOAT_LOG_INTERVAL_SECONDS: "2" }));
  // Polled every few seconds, so the alert on the log's daily bytes fires within the test. A growth
  // is critical only at 1000× here: the agent judges with the defaults (2×), and the page and the
  // alert must show the dashboard's own judgement (a warning).
  dash = await startDashboard({ env: { ...store, ...agent.dashboardEnv, LIFEBOAT_HEALTH_POLL_SECONDS: "3", LIFEBOAT_GROWTH_CRITICAL: "1000" } });
});

test.beforeEach(async ({ page }) => signIn(page, dash, "operator"));

test.afterAll(async () => {
  await dash?.stop();
  await agent?.stop();
  if (server) runK3s(server, "stop");
  await s3?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test("the backups page shows the protection line: waiting for a base, then protected up to N s ago", async ({ page }, testInfo) => {
  const backups = new BackupsPage(page, dash.url);
  await backups.goto();
  const line = page.getByTestId("protection-line");
  await expect(line).toContainText("Waiting for the first backup set");
  await keepScreenshot(page, testInfo, "continuous-waiting");

  await page.getByRole("button", { name: "Back up now" }).click();
  await expect(page.locator("#backup-now-status").getByText("Backup complete")).toBeVisible({ timeout: 120_000 });
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId("protection-line")).toContainText(/protected up to \d+ s ago/, { timeout: 2000 });
    await expect(page.getByTestId("protection-line")).toContainText(/[1-9]\d* segments?,/, { timeout: 2000 });
  }).toPass({ timeout: 60_000 });
  await expect(line).toContainText(/generation \d{8}T\d{6}Z/);
  await expect(line).toContainText("began because first start");
  // The log's objects are not listed as unknown objects of the store.
  await expect(page.getByText(/lifeboat-log_/)).toHaveCount(0);
  await keepScreenshot(page, testInfo, "continuous-protected");
});

test("the log's daily bytes: today's real uploads against a seeded history are flagged as growth with the dashboard's thresholds, on the page and as an alert", async ({
  page,
}, testInfo) => {
  testInfo.setTimeout(180_000);
  // The agent recorded today's uploads in position.json (the previous test made it ship). Days before
  // today cannot be waited for in a test: with the agent stopped, eight ended days of a fifth of
  // today's bytes so far are written before today's, and the generation is made to have begun nine days
  // ago (its partial first day). The agent then judges the series itself, today's bytes still growing.
  const file = path.join(agent.env.LIFEBOAT_STATE_DIR, "continuous", "position.json");
  await agent.stop();
  const pos = JSON.parse(readFileSync(file, "utf8")) as {
    generation: string;
    generationStartedAt: string;
    dailyBytes: { generation: string; day: string; bytes: number; segments: number }[];
  };
  const now = Date.now();
  const today = new Date(now).toISOString().slice(0, 10);
  const mine = pos.dailyBytes.find((d) => d.generation === pos.generation && d.day === today);
  expect(mine, "today's uploads were recorded").toBeTruthy();
  const day = (n: number) => new Date(now - n * 86_400_000).toISOString().slice(0, 10);
  const usual = Math.max(1, Math.floor(mine!.bytes / 5));
  const history = [9, 8, 7, 6, 5, 4, 3, 2, 1].map((n, i) => ({
    generation: pos.generation,
    day: day(n),
    bytes: n === 9 ? Math.floor(usual / 3) : usual + (i % 3) * Math.floor(usual / 20),
    segments: 8000 + i,
  }));
  pos.generationStartedAt = new Date(Date.parse(`${day(9)}T10:00:00Z`)).toISOString();
  pos.dailyBytes = [...history, mine!];
  writeFileSync(file, JSON.stringify(pos, null, 1) + "\n");
  agent = await startAgent(agent.env, agent);

  const backups = new BackupsPage(page, dash.url);
  await expect(async () => {
    await backups.goto();
    await expect(page.getByTestId("protection-line")).toContainText(/protected up to \d+ s ago/, { timeout: 2000 });
    await expect(page.getByTestId("log-anomalies")).toBeVisible({ timeout: 2000 });
  }).toPass({ timeout: 60_000 });
  const flags = page.getByTestId("log-anomalies").getByRole("listitem");
  await expect(flags).toHaveCount(1);
  await expect(flags).toContainText("Warning · Growth");
  await expect(flags).toContainText(
    new RegExp(
      `shipped so far on ${today} \\(the day is not over\\) is already [\\d.]+× the median of the previous 7 days \\([\\d.]+ [KM]?B\\): more writes than usual`,
    ),
  );
  // A bar per day: the partial first day, eight ended days and today.
  await expect(page.getByTestId("log-daily-bytes").locator("rect")).toHaveCount(10);
  await expect(page.getByTestId("log-daily-bytes")).toContainText(`on ${day(1)}`);
  await expect(page.getByTestId("log-daily-bytes")).toContainText("so far today");
  await keepScreenshot(page, testInfo, "continuous-daily-bytes-flag");

  // The agent's own judgement (the default thresholds: ≥ 2× is critical) in its status and its metric.
  const api = await request.newContext({ ignoreHTTPSErrors: true, extraHTTPHeaders: { Authorization: `Bearer ${agent.token}` } });
  const status = (await (await api.get(`${agent.url}/continuous`)).json()) as { dailyAnomalies: { day: string; type: string; level: string }[] };
  expect(status.dailyAnomalies).toMatchObject([{ day: today, type: "growth", level: "critical" }]);
  const metrics = await (await api.get(`${agent.url}/metrics`)).text();
  expect(metrics).toContain('lifeboat_agent_log_bytes_anomaly_level{type="growth"} 2');
  expect(metrics).toContain('lifeboat_agent_log_bytes_anomaly_level{type="shrink"} 0');
  await api.dispose();

  // The dashboard's own rule judges the series in /health again (its thresholds): LifeboatLogGrowth fires.
  const alerts = new AlertsPage(page, dash.url);
  await expect(async () => {
    await alerts.goto();
    await expect(alerts.alert("LifeboatLogGrowth")).toBeVisible({ timeout: 2000 });
  }).toPass({ timeout: 60_000 });
  await expect(alerts.alert("LifeboatLogGrowth")).toContainText("Warning");
  await expect(alerts.alert("LifeboatLogGrowth")).toContainText(new RegExp(`Continuous protection: [\\d.]+ [KM]?B shipped so far on ${today}`));
  await expect(alerts.alert("LifeboatLogShrink")).toHaveCount(0);
  await keepScreenshot(page, testInfo, "continuous-daily-bytes-alert");
});
