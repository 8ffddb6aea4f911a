// `npm test`: every test the project has — type check, lint, format, unit + integration (vitest), a 2-minute soak, browser (Playwright).
// Installs missing Debian packages when run as root, or stops with the exact command to run.
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { ensureSystemTools } from "./system-tools";
import { describeReport, readPlaywrightReport, readVitestReport, type PhaseReport } from "./test-report";

const t0 = Date.now();
const missing = ensureSystemTools();
if (missing) {
  console.error(`\nSome tools the tests need are missing. Install them with:\n\n  ${missing}\n\nthen run \`npm test\` again.`);
  process.exit(1);
}

const env = {
  ...process.env,
  NEXT_TELEMETRY_DISABLED: "1",
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  // Browser tests build into their own directory so a running dashboard's build is left alone.
  LIFEBOAT_NEXT_DIST: process.env.LIFEBOAT_NEXT_DIST || ".next-e2e",
};
const bin = (name: string) => `node_modules/.bin/${name}`;
// Each runner also writes a JSON report here; the summary names the failed tests from it.
const REPORTS = path.resolve("test-reports");
rmSync(REPORTS, { recursive: true, force: true });
const vitestArgs = (report: string) => ["--reporter=default", "--reporter=json", `--outputFile.json=${path.join(REPORTS, report)}`];
const phases: { name: string; cmd: string; args: string[]; env?: Record<string, string>; report?: () => PhaseReport | null }[] = [
  { name: "type check", cmd: bin("tsc"), args: ["--noEmit", "-p", "."] },
  { name: "lint (ESLint: rules and import arrows)", cmd: bin("eslint"), args: [".", "--max-warnings", "0"] },
  { name: "format (Prettier)", cmd: bin("prettier"), args: ["--check", ".", "--log-level", "warn"] },
  {
    name: "unit + integration (vitest)",
    cmd: bin("vitest"),
    args: ["run", ...vitestArgs("vitest.json")],
    report: () => readVitestReport(path.join(REPORTS, "vitest.json"), process.cwd()),
  },
  // The agent left running with backups, drills, health and a damaged object (bench/soak.ts; `npm run soak` for 30 minutes).
  { name: "soak (2 minutes)", cmd: process.execPath, args: ["--import", "tsx", "bench/soak.ts", "--minutes", "2"] },
  // npm run build:release, unpacked away from the checkout, answering (lib/launcher/build-release.test.ts).
  {
    name: "release (build, unpack, answer)",
    cmd: bin("vitest"),
    args: ["run", "lib/launcher/build-release.test.ts", ...vitestArgs("release.json")],
    env: { LIFEBOAT_RELEASE_TEST: "1" },
    report: () => readVitestReport(path.join(REPORTS, "release.json"), process.cwd()),
  },
  { name: "build for browser tests", cmd: bin("next"), args: ["build"] },
  {
    name: "browser (Playwright, Chromium)",
    cmd: bin("playwright"),
    args: ["test"],
    // playwright.config.ts writes this report.
    report: () => readPlaywrightReport(path.join(REPORTS, "playwright.json")),
  },
];

const results: { name: string; ok: boolean; seconds: number; report?: PhaseReport | null }[] = [];
for (const p of phases) {
  console.log(`\n━━━ ${p.name} ━━━`);
  const start = Date.now();
  const r = spawnSync(p.cmd, p.args, { stdio: "inherit", env: { ...env, ...p.env } });
  const ok = r.status === 0;
  let report: PhaseReport | null = null;
  try {
    report = p.report?.() ?? null;
  } catch (err) {
    console.error(`could not read the report of ${p.name}: ${(err as Error).message}`);
  }
  results.push({ name: p.name, ok, seconds: Math.round((Date.now() - start) / 1000), report });
  // Without a build there is nothing for the browser tests to open.
  if (!ok && p.name.startsWith("build")) {
    results.push({ name: "browser (Playwright, Chromium)", ok: false, seconds: 0 });
    break;
  }
}

console.log("\n━━━ summary ━━━");
for (const r of results) {
  console.log(`${r.ok ? "PASS" : "FAIL"}  ${r.name} (${r.seconds} s)`);
  if (r.report) for (const line of describeReport(r.report)) console.log(line);
}
console.log(`total ${Math.round((Date.now() - t0) / 1000)} s`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
