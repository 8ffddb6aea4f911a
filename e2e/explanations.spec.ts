import path from "node:path";
import Database from "better-sqlite3";
import { test, expect, type APIRequestContext } from "@playwright/test";
import { launcherAccounts, signIn } from "./support/auth";
import { startDemoLauncher, type RunningDemo } from "./support/demo-launcher";
import { keepScreenshot } from "./support/screenshot";
import { BackupsPage } from "./pages/backups-page";

// The demo as `npm start` runs it: 90 seed sets with the incident's growth in the last three, and
// a demo agent whose automatic restore drills read the newest sets' databases. Once they ran, a
// flagged set says why it grew; the chart lays rows, live keys and compaction lag over the sizes.
let demo: RunningDemo;
let newestId = "";

test.describe.configure({ mode: "serial" });

interface DrillOverview {
  running: string | null;
  queued: number;
  drills: { setId: string; state: string }[];
}

test.beforeAll(async ({ request }, testInfo) => {
  testInfo.setTimeout(360_000);
  demo = await startDemoLauncher("lifeboat-e2e-explain-");
  await signInRequest(request);
  // The first catalog request starts the drills: the newest seven sets, one at a time.
  const catalog = (await (await request.get(`${demo.url}/api/backups?limit=1`)).json()) as { sets: { id: string }[] };
  newestId = catalog.sets[0].id;
  await expect
    .poll(
      async () => {
        const o = (await (await request.get(`${demo.url}/api/drills`)).json()) as DrillOverview;
        return o.running === null && o.queued === 0 ? o.drills.filter((d) => d.state === "verified").length : -1;
      },
      { timeout: 240_000, intervals: [1000] },
    )
    .toBe(7);
});

test.afterAll(async () => {
  await demo?.stop();
});

/** Signs an API request context in as npm start's first admin (its cookie is kept for later calls). */
async function signInRequest(request: APIRequestContext): Promise<void> {
  const admin = launcherAccounts(demo.url, demo.dataDir).credentials.admin!;
  const res = await request.post(`${demo.url}/api/auth/login`, { data: { name: admin.name, password: admin.password }, headers: { origin: demo.url } });
  expect(res.status()).toBe(200);
}

test.beforeEach(async ({ page }) => {
  await signIn(page, launcherAccounts(demo.url, demo.dataDir));
});

test("the newest set's page says compaction stalled, since when, what grew and what to do", async ({ page }, testInfo) => {
  await page.goto(`${demo.url}/backups/${newestId}`);
  const card = page.getByTestId("explanation");
  await expect(page.getByRole("heading", { name: "Why it grew" })).toBeVisible();
  await expect(card.getByTestId("explanation-verdict")).toHaveText(
    /^Compaction stalled: kine's compaction has not advanced since revision [\d,]+ \(about \d{4}-\d{2}-\d{2}\), so [\d,]+ revisions are kept; \/registry\/leases \+[\d,]+ rows, \+[\d.]+ [KM]B\.$/,
  );
  const causes = card.getByTestId("explanation-cause");
  await expect(causes.first()).toHaveAttribute("data-kind", "compaction-stalled");
  await expect(causes.first()).toContainText(/kine's compaction last advanced at revision [\d,]+, about \d{4}-\d{2}-\d{2} \(after the set of/);
  // The demo agent read the live database: still stalled.
  await expect(causes.first()).toContainText(/The live database \(read by the agent at .*\) is at revision [\d,]+ .*: compaction is still stalled\./);
  await expect(causes.first()).toContainText("What to do: look in k3s's log");
  await expect(causes.first().locator("code", { hasText: "systemctl restart k3s" })).toBeVisible();
  await expect(causes.first()).toContainText("pi:pi");
  await expect(causes.nth(1)).toHaveAttribute("data-kind", "prefix-growth");
  await expect(causes.nth(1)).toContainText(/^.*\/registry\/leases \+[\d,]+ rows, \+[\d.]+ [KM]B \(most under \/registry\/leases\/kube-system/);
  // The set it is compared with: the newest one without flags, a link to its page.
  const baseline = card.getByRole("link", { name: /^seed-/ });
  await expect(baseline).toBeVisible();
  await expect(page.getByRole("heading", { name: "Database statistics (restore drill)" })).toBeVisible();
  await expect(page.getByTestId("set-statistics")).toContainText("/registry/leases");
  // SQLite's page size in bytes, as SQLite states it (4,096 B, not "4.10 KB").
  await expect(page.getByTestId("set-statistics")).toContainText(/Pages \(free\)[\d,]+ × [\d,]+ B \([\d,]+ free\)/);
  await keepScreenshot(page, testInfo, "explanation-stalled");
  await baseline.click();
  await expect(page.getByRole("heading", { name: "Why it grew" })).toHaveCount(0);
});

test("GET /api/backups/<id> carries the explanation in its exact shape", async ({ request }) => {
  await signInRequest(request);
  const res = await request.get(`${demo.url}/api/backups/${newestId}`);
  expect(res.status()).toBe(200);
  const body = (await res.json()) as { explanation: Record<string, unknown>; statistics: Record<string, unknown> };
  expect(Object.keys(body.explanation).sort()).toEqual(["baselineSetId", "causes", "verdict"]);
  const causes = body.explanation.causes as Record<string, unknown>[];
  expect(causes[0]).toMatchObject({ kind: "compaction-stalled", text: expect.stringContaining("revisions have been kept since") });
  for (const c of causes) {
    expect(["compaction-stalled", "prefix-growth", "dead-rows", "freelist", "normal-growth", "unknown"]).toContain(c.kind);
    for (const k of Object.keys(c)) expect(["kind", "prefix", "rowsDelta", "bytesDelta", "text"]).toContain(k);
  }
  expect(causes.find((c) => c.prefix === "/registry/leases")).toMatchObject({
    kind: "prefix-growth",
    rowsDelta: expect.any(Number),
    bytesDelta: expect.any(Number),
  });
  expect(body.statistics).toMatchObject({ setId: newestId, from: "drill" });
});

test("the history and the Recent flags card carry the first line; the chart overlays rows, live keys and compaction lag", async ({ page }, testInfo) => {
  const backups = new BackupsPage(page, demo.url);
  await backups.goto();
  await expect(backups.row(newestId).getByTestId("explanation-line")).toHaveText(/Compaction stalled: kine's compaction has not advanced since revision/);
  const recent = page.getByRole("region", { name: "Recent flags" });
  await expect(recent.getByTestId("explanation-line").first()).toContainText("Compaction stalled");
  // The gap is about timing, not size: nothing to explain there.
  await expect(recent.getByTestId("explanation-line")).toHaveCount(2);
  await expect(backups.chart).toHaveAttribute("data-overlay", "none");
  const toggle = page.getByTestId("chart-statistics-toggle");
  await expect(toggle.locator("xpath=..")).toContainText("7 of 90 sets have statistics");
  await toggle.check();
  await expect(backups.chart).toHaveAttribute("data-overlay", "statistics");
  const legend = backups.chart.locator(".u-legend");
  for (const label of ["Rows", "Live keys", "Compaction lag"]) await expect(legend).toContainText(label);
  // The flagged points keep their markers over the overlay.
  await expect(backups.chartFlags("critical")).toHaveCount(2);
  await keepScreenshot(page, testInfo, "chart-overlay");
  // The chart alone, to look at the lines.
  const detail = path.resolve("test-results", "screenshots", "chart-overlay-detail.png");
  await page.locator("figure", { has: backups.chart }).screenshot({ path: detail });
  await testInfo.attach("chart-overlay-detail", { path: detail, contentType: "image/png" });
  await toggle.uncheck();
  await expect(backups.chart).toHaveAttribute("data-overlay", "none");
});

test("a set not drilled yet says unknown and offers Verify now, which brings the explanation", async ({ page }, testInfo) => {
  // Forget the newest set's drill and statistics, as if it had just appeared (the drill service's
  // watermark already passed it, so nothing drills it by itself).
  const db = new Database(path.join(demo.dataDir, "lifeboat.db"));
  try {
    db.prepare("DELETE FROM restore_drills WHERE set_id = ?").run(newestId);
    expect(db.prepare("DELETE FROM set_statistics WHERE set_id = ?").run(newestId).changes).toBe(1);
  } finally {
    db.close();
  }
  await page.goto(`${demo.url}/backups/${newestId}`);
  const card = page.getByTestId("explanation");
  await expect(card.getByTestId("explanation-verdict")).toHaveText(
    "Cannot tell why yet: this set has no database statistics yet; a restore drill reads them (Verify now).",
  );
  await expect(card.getByTestId("explanation-cause")).toHaveAttribute("data-kind", "unknown");
  await expect(card).toContainText("Run a drill (Verify now)");
  await keepScreenshot(page, testInfo, "explanation-unknown");
  await card.getByRole("button", { name: "Verify now" }).click();
  await expect(card.getByTestId("explanation-verdict")).toHaveText(/^Compaction stalled/, { timeout: 60_000 });
});
