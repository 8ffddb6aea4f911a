import { mkdirSync } from "node:fs";
import path from "node:path";
import type { Page, TestInfo } from "@playwright/test";

/**
 * Saves a full-page screenshot as a test artifact: attached to the report and kept in
 * test-results/screenshots/<name>.png so a person can open and look at it.
 */
export async function keepScreenshot(page: Page, testInfo: TestInfo, name: string): Promise<string> {
  const dir = path.resolve("test-results", "screenshots");
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  await testInfo.attach(name, { path: file, contentType: "image/png" });
  return file;
}
