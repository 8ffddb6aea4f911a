import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeReport, firstLines, readPlaywrightReport, readVitestReport } from "./test-report";

// The reports come from the real runners, run on a small project of passing, failing and broken tests.
const ROOT = path.resolve(import.meta.dirname, "../..");
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "lifeboat-report-"));
  symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
  // The fixture project's skipped tests (it.skip, test.skip) are there on purpose: the summary must
  // count skipped tests, so each runner is given one. They run in a temporary directory, not here.
  writeFileSync(
    path.join(dir, "sums.test.js"),
    `describe("sums", () => {
  it("adds", () => expect(1 + 1).toBe(2));
  it("carries", () => expect(9 + 1).toBe(11));
});
let tries = 0;
it("shaky", () => expect(++tries).toBe(2));
it.skip("later", () => {});
`,
  );
  // Every test passes, but a rejection nobody handles lands after the test: vitest fails the run.
  writeFileSync(
    path.join(dir, "late.test.js"),
    `function writeAfterClose() {
  return new Promise((_, reject) => setTimeout(() => reject(new Error("The database connection is not open")), 20));
}
it("passes, and leaves a send behind", async () => {
  void writeAfterClose();
  expect(1).toBe(1);
});
it("waits", () => new Promise((r) => setTimeout(r, 100)));
`,
  );
  writeFileSync(path.join(dir, "broken.test.js"), `throw new Error("this file cannot load: no such fixture");\n`);
  writeFileSync(
    path.join(dir, "playwright.config.js"),
    `module.exports = { testDir: ".", testMatch: /\\.spec\\.js$/, retries: 1, reporter: [["json", { outputFile: "pw.json" }]] };\n`,
  );
  writeFileSync(
    path.join(dir, "pages.spec.js"),
    `const { test, expect } = require("@playwright/test");
const fs = require("node:fs");
test.describe("pages", () => {
  test("opens", () => expect(2).toBe(2));
  test("shows the size", () => expect("54 MB").toBe("228 MB"));
});
test("once shaky", ({}, info) => expect(info.retry).toBe(1));
test.skip("not yet", () => {});
test("fails elsewhere on its retry", ({}, info) => {
  if (info.retry === 0) expect("first try").toBe("fine");
  expect("retry").toBe("fine");
});
`,
  );
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("npm test's summary", () => {
  it("names each failed vitest test and file with the first lines of its error, and the counts", () => {
    const run = spawnSync(
      path.join(ROOT, "node_modules/.bin/vitest"),
      ["run", "sums.test.js", "broken.test.js", "--root", dir, "--globals", "--retry=1", "--reporter=json", "--outputFile.json=vitest.json"],
      {
        cwd: dir,
        encoding: "utf8",
        env: { ...process.env, CI: "" },
      },
    );
    expect(run.status).toBe(1);
    const rep = readVitestReport(path.join(dir, "vitest.json"), dir)!;
    expect(rep.counts).toBe("2 passed, 1 failed, 1 skipped (4)");
    expect(rep.failures.map((f) => f.test)).toEqual(["broken.test.js", "sums.test.js › sums carries"]);
    expect(rep.failures[0].error).toContain("this file cannot load: no such fixture");
    expect(rep.failures[1].error).toMatch(/expected 10 to be 11/);
    expect(rep.flaky).toEqual(["sums.test.js › shaky: AssertionError: expected 1 to be 2 // Object.is equality"]);
    const lines = describeReport(rep).join("\n");
    expect(lines).toContain("✗ sums.test.js › sums carries");
    expect(lines).not.toMatch(/\n\s+at /);
  }, 60_000);

  it("counts vitest's unhandled errors, which fail the run with every test passed, and says where they came from", () => {
    const errors = path.join(dir, "vitest.unhandled.json");
    const run = spawnSync(
      path.join(ROOT, "node_modules/.bin/vitest"),
      [
        "run",
        "late.test.js",
        "--root",
        dir,
        "--globals",
        "--reporter=json",
        "--outputFile.json=late.json",
        `--reporter=${path.join(ROOT, "lib/launcher/vitest-errors-reporter.ts")}`,
      ],
      { cwd: dir, encoding: "utf8", env: { ...process.env, CI: "", LIFEBOAT_VITEST_ERRORS: errors } },
    );
    expect(run.status).toBe(1);
    // Without the reporter's file the json alone looks like a pass: that was the summary's blind spot.
    expect(readVitestReport(path.join(dir, "late.json"), dir)!.failures).toEqual([]);
    const rep = readVitestReport(path.join(dir, "late.json"), dir, errors)!;
    expect(rep.counts).toBe("2 passed, 1 unhandled error (2)");
    expect(rep.failures).toEqual([{ test: "unhandled error outside any test (from late.test.js)", error: "Error: The database connection is not open" }]);
  }, 60_000);

  it("names each failed Playwright test with its file and line, and the ones that passed only on a retry", () => {
    const run = spawnSync(path.join(ROOT, "node_modules/.bin/playwright"), ["test", "--config", path.join(dir, "playwright.config.js")], {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, CI: "" },
    });
    expect(run.status).toBe(1);
    const rep = readPlaywrightReport(path.join(dir, "pw.json"))!;
    expect(rep.counts).toBe("1 passed, 2 failed, 1 flaky, 1 skipped (5)");
    expect(rep.failures.map((f) => f.test).sort()).toEqual(["pages.spec.js:5 › pages › shows the size", "pages.spec.js:9 › fails elsewhere on its retry"]);
    const [size, elsewhere] = ["shows the size", "fails elsewhere"].map((t) => rep.failures.find((f) => f.test.includes(t))!);
    // Each failure says at which line: a test with several waits names the one that gave up.
    expect(size.error).toMatch(/^Error: expect\(received\)\.toBe\(expected\).* \(at pages\.spec\.js:5\)\n/);
    expect(size.error).toContain("228 MB");
    expect(size.error).not.toContain("first try");
    // A retry that failed at another line than the first try: both lines.
    expect(elsewhere.error).toMatch(/^Error: .* \(at pages\.spec\.js:11\)\n/);
    expect(elsewhere.error).toMatch(/\nfirst try: Error: .* \(at pages\.spec\.js:10\)$/);
    expect(rep.flaky).toHaveLength(1);
    expect(rep.flaky[0]).toMatch(/^pages\.spec\.js:7 › once shaky: Error: expect\(received\)\.toBe\(expected\).* \(at pages\.spec\.js:7\)$/);
  }, 60_000);

  it("has nothing to say when a runner wrote no report, and keeps errors short", () => {
    expect(readVitestReport(path.join(dir, "absent.json"), dir)).toBeNull();
    expect(readPlaywrightReport(path.join(dir, "absent.json"))).toBeNull();
    expect(firstLines("\u001b[31mboom\u001b[39m\n    at f (x.ts:1:1)\n\nsecond\nthird\nfourth\nfifth")).toBe("boom\nsecond\nthird\nfourth");
  });
});
