import { defineConfig } from "@playwright/test";

// Browser tests drive Debian's Chromium (no browser download is possible here). Each spec starts its
// own servers (dashboard, s3rver, agent, test Kubernetes API) through e2e/support, so runs are isolated.
export default defineConfig({
  testDir: "e2e",
  globalSetup: "./e2e/support/global-setup.ts",
  timeout: 180_000,
  expect: { timeout: 15_000 },
  // A stray test.only would silently skip every other test.
  forbidOnly: !!process.env.CI,
  // Spec files are shared out to two workers (the tests in a file stay in order, in one worker).
  // Many tests wait on clocks and processes (session expiry, drains through a budget, k3s restarts),
  // so two overlap those waits: the suite took 11.4 min with one worker, 9.3 with two (2 cores,
  // 2026-12-06); every spec starts its own servers on free ports with its own data directory.
  fullyParallel: false,
  workers: 2,
  // One retry on CI (a shared 2-core machine); npm test's summary names every test that needed it, with its first error.
  retries: process.env.CI ? 1 : 0,
  // npm test reads the json report to name failed tests in its summary.
  reporter: [["list"], ["html", { open: "never", outputFolder: "playwright-report" }], ["json", { outputFile: "test-reports/playwright.json" }]],
  outputDir: "test-results",
  use: {
    browserName: "chromium",
    headless: true,
    viewport: { width: 1366, height: 900 },
    screenshot: "only-on-failure",
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
      ],
    },
  },
});
