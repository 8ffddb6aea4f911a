import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import Database from "better-sqlite3";
import { test, expect } from "@playwright/test";
import { startEmbeddedS3, type EmbeddedS3 } from "../lib/storage/embedded-s3";
import { S3BackupStore } from "../lib/storage";
import { lifeboatObjectNames } from "../lib/contracts/backup-names";
import { startDashboard, type RunningDashboard } from "./support/dashboard";
import { signIn } from "./support/auth";
import { freePort } from "./support/ports";
import { keepScreenshot } from "./support/screenshot";
import { BackupsPage } from "./pages/backups-page";

// The pages with other store contents and states than the demo's: a store that never answered, a
// bucket of Lifeboat sets (one without a manifest) on a dashboard with no agent and no cluster, and
// an audit log of a thousand entries.

const KEY = "e2e-states-key";
const SECRET = "e2e-states-secret-5";
let work: string;
let s3: EmbeddedS3;
const dashboards: RunningDashboard[] = [];

test.describe.configure({ mode: "serial" });

const storeEnv = (endpoint: string, bucket: string) => ({
  AWS_S3_ENDPOINT: endpoint,
  AWS_S3_BUCKET: bucket,
  AWS_ACCESS_KEY_ID: KEY,
  AWS_SECRET_ACCESS_KEY: SECRET,
  AWS_DEFAULT_REGION: "us-east-1",
  LIFEBOAT_AGENT_URL: "",
  KUBECONFIG: "",
});

async function dashboard(env: Record<string, string>): Promise<RunningDashboard> {
  const d = await startDashboard({ env });
  dashboards.push(d);
  return d;
}

test.beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-e2e-states-"));
  s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["sets", "written-elsewhere"], accessKeyId: KEY, secretAccessKey: SECRET });
  const store = new S3BackupStore({ endpoint: s3.endpoint, bucket: "sets", prefix: "", accessKeyId: KEY, secretAccessKey: SECRET, region: "us-east-1" });
  const put = (key: string, body: string | Buffer) => store.put(key, Readable.from([Buffer.from(body)]));
  for (const [i, day] of ["2026-11-01", "2026-11-02", "2026-11-03"].entries()) {
    const n = lifeboatObjectNames(new Date(`${day}T03:00:00Z`));
    await put(n.logical, Buffer.alloc(1000 + i, 1));
    await put(n.secrets, Buffer.alloc(100, 1));
    // The newest has no manifest (its upload did not finish); the others' are not this test's subject.
    if (i < 2) await put(n.manifest, "{}");
  }
  // A set whose manifest another writer made: valid, but its createdAt is no ISO time.
  const other = new S3BackupStore({
    endpoint: s3.endpoint,
    bucket: "written-elsewhere",
    prefix: "",
    accessKeyId: KEY,
    secretAccessKey: SECRET,
    region: "us-east-1",
  });
  const n = lifeboatObjectNames(new Date("2026-11-05T03:00:00Z"));
  await other.put(n.logical, Readable.from([Buffer.alloc(500, 1)]));
  await other.put(n.secrets, Readable.from([Buffer.alloc(50, 1)]));
  const database = { fileSize: 4096, pageSize: 4096, pageCount: 1, freelistCount: 0, rowCount: 1, currentRevision: 1, compactRevision: 0, compactionLag: 1 };
  const manifest = {
    version: 1,
    setId: "lifeboat-2026-11-05_03-00-00",
    createdAt: "yesterday evening",
    host: "elsewhere",
    k3sVersion: null,
    agentVersion: "0.0.1",
    snapshotMethod: "copy",
    integrity: "ok",
    database: { ...database, uncompactedRows: 0, liveKeys: 1, topPrefixesByRows: [], topPrefixesByBytes: [], compactRevisionWrittenAt: "a while ago" },
    objects: [],
    timings: {},
  };
  await other.put(n.manifest, Readable.from([Buffer.from(JSON.stringify(manifest))]));
});

test.afterAll(async () => {
  for (const d of dashboards) await d.stop();
  await s3?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test("a store that never answered: the page says so and claims no count, no 'nothing unusual', no empty history", async ({ page }, testInfo) => {
  const d = await dashboard(storeEnv(`http://127.0.0.1:${await freePort()}`, "gone"));
  await signIn(page, d);
  const backups = new BackupsPage(page, d.url);
  await backups.goto();
  await expect(backups.errorBanner).toContainText("Cannot reach the backup store");
  await expect(backups.errorBanner).toContainText("No listing has succeeded yet");
  await expect(backups.freshness).toContainText("Never listed yet");
  await keepScreenshot(page, testInfo, "states-store-never-listed");
  // Nothing about the bucket's contents is known: no "0 objects", "0 sets" or "nothing unusual".
  await expect(backups.freshness).not.toContainText("0 objects");
  for (const text of ["No backup sets found", "Nothing unusual", "No backup sets yet", "No backup sets match", "0–0 of 0"])
    await expect(page.getByText(text)).toHaveCount(0);
  await expect(page.getByText("Backup sets", { exact: true })).toHaveCount(0);
  await expect(backups.chart).toHaveCount(0);
});

test("no agent configured: no set is shown as queued for a drill nothing will run, and Verify now is not offered", async ({ page }, testInfo) => {
  const d = await dashboard(storeEnv(s3.endpoint, "sets"));
  await signIn(page, d);
  const backups = new BackupsPage(page, d.url);
  await backups.goto();
  await expect(backups.rows).toHaveCount(3);
  await expect(page.getByText("No agent is configured (LIFEBOAT_AGENT_URL)")).toBeVisible();
  // The drill service scans every 15 s: give it two scans, then read the page again.
  await page.waitForTimeout(16_000);
  await backups.goto();
  await expect(backups.rows).toHaveCount(3);
  await expect(page.getByTestId("verification").and(page.locator('[data-state="queued"]'))).toHaveCount(0);
  await expect(page.getByTestId("verification").and(page.locator('[data-state="not-verified"]'))).toHaveCount(3);
  const drills = (await (await fetch(`${d.url}/api/drills`, { headers: { authorization: `Bearer ${d.tokens.viewer}` } })).json()) as { queued: number };
  expect(drills.queued).toBe(0);
  await page.goto(`${d.url}/backups/lifeboat-2026-11-02_03-00-00`);
  await expect(page.getByTestId("drill-details")).toContainText("not yet verified");
  await expect(page.getByRole("button", { name: /Verify now/ })).toHaveCount(0);
  await expect(page.getByText("No agent is configured (LIFEBOAT_AGENT_URL), so backups are not verified")).toBeVisible();
  await keepScreenshot(page, testInfo, "states-no-agent-set");
});

test("the newest backup is the newest complete set: an upload that did not finish is named as such, not as the newest backup", async ({ page }) => {
  const d = dashboards.at(-1) ?? (await dashboard(storeEnv(s3.endpoint, "sets")));
  await signIn(page, d);
  const backups = new BackupsPage(page, d.url);
  await backups.goto();
  const newest = page.getByText("Newest backup", { exact: true }).locator("..");
  await expect(newest).toContainText("2026-11-02 03:00 UTC");
  await expect(newest.getByTestId("newest-incomplete")).toHaveText("A newer upload, 2026-11-03 03:00 UTC, is incomplete.");
});

test("a page past the end of the history (a link from before sets were deleted) shows the last page, not 'no sets'", async ({ page }) => {
  const d = dashboards.at(-1) ?? (await dashboard(storeEnv(s3.endpoint, "sets")));
  await signIn(page, d);
  const backups = new BackupsPage(page, d.url);
  await backups.goto("?page=7");
  await expect(backups.rows).toHaveCount(3);
  await expect(page.getByText("No backup sets match.")).toHaveCount(0);
  const pages = page.getByRole("navigation", { name: "Pages" });
  await expect(pages).toContainText("1–3 of 3");
  await expect(pages).toContainText("Page 1 of 1");
  await backups.goto("?flag=incomplete&page=2");
  await expect(backups.rows).toHaveCount(1);
  await expect(pages).toContainText("1–1 of 1");
});

test("an agent that does not answer: continuous protection says unknown and why, instead of vanishing", async ({ page }) => {
  const gone = `https://127.0.0.1:${await freePort()}`;
  const d = await dashboard({
    ...storeEnv(s3.endpoint, "sets"),
    LIFEBOAT_AGENT_URL: gone,
    LIFEBOAT_AGENT_TOKEN: "e2e-states-agent-token-0123456789",
    LIFEBOAT_AGENT_FINGERPRINT: Array(32).fill("AB").join(":"),
  });
  await signIn(page, d);
  const backups = new BackupsPage(page, d.url);
  await backups.goto();
  await expect(backups.rows).toHaveCount(3);
  const line = page.getByTestId("protection-line");
  await expect(line).toContainText("Continuous protection · unknown:");
  await expect(line).toContainText(`Cannot reach the agent at ${gone}`);
  await expect(line).not.toContainText("protected up to");
});

test("a manifest whose times are no ISO dates: the set's page shows them as written instead of breaking", async ({ page }) => {
  const d = await dashboard(storeEnv(s3.endpoint, "written-elsewhere"));
  await signIn(page, d);
  await page.goto(`${d.url}/backups/lifeboat-2026-11-05_03-00-00`);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Backup of 2026-11-05 03:00 UTC");
  await expect(page.getByText("yesterday evening")).toBeVisible();
  await expect(page.getByText("Invalid time value")).toHaveCount(0);
});

test("an audit log of a thousand entries: older pages on request, and a long target keeps the outcome in view", async ({ page }) => {
  const d = dashboards.at(-1) ?? (await dashboard(storeEnv(s3.endpoint, "sets")));
  // Written as the dashboard writes them (ids grow with time), from 1,000 minutes ago.
  const db = new Database(path.join(d.dataDir, "lifeboat.db"));
  const add = db.prepare("INSERT INTO audit_log (at, action, target, outcome, detail, actor, actor_role, client_address) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  db.transaction(() => {
    for (let i = 1000; i > 0; i--) {
      const target = i === 1000 ? "the-oldest-entry" : i === 5 ? `${"longnodename".repeat(5)}.`.repeat(4) + "internal" : `worker-${i}`;
      add.run(new Date(Date.now() - i * 60_000).toISOString(), "node.cordon", target, i === 5 ? "failed" : "ok", null, "operator", "operator", "127.0.0.1");
    }
  })();
  db.close();
  await signIn(page, d);
  await page.goto(`${d.url}/audit`);
  const rows = page.getByTestId("audit-row");
  await expect(rows).toHaveCount(300);
  // The failed cordon of a node with a 250-character name (dots, no hyphen to break at): its outcome is on the screen, not past its edge.
  const long = rows.filter({ hasText: "longnodenamelongnodename" });
  const outcome = long.getByText("failed", { exact: true });
  await expect(outcome).toBeVisible();
  const box = (await outcome.boundingBox())!;
  expect(box.x + box.width).toBeLessThanOrEqual(page.viewportSize()!.width);
  // The page says it shows the newest entries only, and brings the older ones.
  await expect(page.getByText("Showing the newest 300 entries.")).toBeVisible();
  await page.getByRole("button", { name: "Show older entries" }).click();
  await expect(rows).toHaveCount(600);
  await page.getByRole("button", { name: "Show older entries" }).click();
  await expect(rows).toHaveCount(900);
  await page.getByRole("button", { name: "Show older entries" }).click();
  await expect(rows.filter({ hasText: "the-oldest-entry" })).toHaveCount(1);
  await expect(page.getByRole("button", { name: "Show older entries" })).toHaveCount(0);
  const ids = await rows.evaluateAll((trs) => trs.map((tr) => tr.textContent));
  expect(new Set(ids).size).toBe(ids.length);
});
