// `npm test`: every test the project has — type check, lint, format, unit + integration (vitest), a 2-minute soak, the release build, browser (Playwright).
// Installs missing Debian packages when run as root, or stops with the exact command to run.
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { ensureSystemTools } from "./system-tools";
import { useTestScratch } from "./test-scratch";
import { describeReport, readPlaywrightReport, readVitestReport, type PhaseReport } from "./test-report";

const t0 = Date.now();
const missing = ensureSystemTools();
if (missing) {
  console.error(`\nSome tools the tests need are missing. Install them with:\n\n  ${missing}\n\nthen run \`npm test\` again.`);
  process.exit(1);
}

// Every phase's temporary files under one directory of the run, removed at its end (test-scratch.ts).
const scratch = useTestScratch();
for (const [signal, code] of [
  ["SIGINT", 130],
  ["SIGTERM", 143],
] as const)
  process.once(signal, () => {
    scratch.remove();
    process.exit(code);
  });

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
/**
 * A vitest phase's reporting: its json report under REPORTS, its unhandled errors beside it
 * (vitest-errors-reporter.ts), and the summary read from both.
 */
function vitestReporting(report: string) {
  const json = path.join(REPORTS, report);
  const errors = json.replace(/\.json$/, ".unhandled.json");
  return {
    args: ["--reporter=default", "--reporter=json", `--outputFile.json=${json}`, "--reporter=./lib/launcher/vitest-errors-reporter.ts"],
    env: { LIFEBOAT_VITEST_ERRORS: errors },
    report: () => readVitestReport(json, process.cwd(), errors),
  };
}
const vitestMain = vitestReporting("vitest.json");
const vitestRelease = vitestReporting("release.json");
const vitestFront = vitestReporting("front.json");
interface Phase {
  name: string;
  cmd: string;
  args: string[];
  env?: Record<string, string>;
  report?: () => PhaseReport | null;
}
const phases = {
  types: { name: "type check", cmd: bin("tsc"), args: ["--noEmit", "-p", "."] },
  lint: { name: "lint (ESLint: rules and import arrows)", cmd: bin("eslint"), args: [".", "--max-warnings", "0"] },
  format: { name: "format (Prettier)", cmd: bin("prettier"), args: ["--check", ".", "--log-level", "warn"] },
  vitest: {
    name: "unit + integration (vitest)",
    cmd: bin("vitest"),
    args: ["run", ...vitestMain.args],
    env: vitestMain.env,
    report: vitestMain.report,
  },
  // The agent left running with backups, drills, health and a damaged object (bench/soak.ts; `npm run soak` for 30 minutes).
  soak: { name: "soak (2 minutes)", cmd: process.execPath, args: ["--import", "tsx", "bench/soak.ts", "--minutes", "2"] },
  // npm run build:release, unpacked away from the checkout, answering (lib/launcher/build-release.test.ts).
  release: {
    name: "release (build, unpack, answer)",
    cmd: bin("vitest"),
    args: ["run", "lib/launcher/build-release.test.ts", ...vitestRelease.args],
    env: { LIFEBOAT_RELEASE_TEST: "1", ...vitestRelease.env },
    report: vitestRelease.report,
  },
  build: { name: "build for browser tests", cmd: bin("next"), args: ["build"] },
  // The dashboard's front around that build, with requests no browser sends (lib/http/dashboard-server.test.ts).
  front: {
    name: "dashboard front (vitest, on the build)",
    cmd: bin("vitest"),
    args: ["run", "lib/http/dashboard-server.test.ts", ...vitestFront.args],
    env: { LIFEBOAT_FRONT_TEST: "1", LIFEBOAT_BUILD: "never", ...vitestFront.env },
    report: vitestFront.report,
  },
  browser: {
    name: "browser (Playwright, Chromium)",
    cmd: bin("playwright"),
    args: ["test"],
    // playwright.config.ts writes this report.
    report: () => readPlaywrightReport(path.join(REPORTS, "playwright.json")),
  },
} satisfies Record<string, Phase>;

/**
 * Stages run one after another; the lanes of a stage run at the same time, each lane's phases in
 * order. The soak (mostly waiting on its schedule: a small database, a backup a minute) runs beside
 * the release test and the browser build, which have no timing in them: that stage took 123 s on CI
 * instead of 194 s one after another (2026-12-06). The dashboard front's test follows the build it
 * runs on, by when the soak has ended. Everything else runs alone: the timing-sensitive
 * suites (vitest, Playwright), and the static checks, which are CPU-bound (side by side on 2 cores
 * they took 44 s instead of 47).
 */
const stages: Phase[][][] = [
  [[phases.types]],
  [[phases.lint]],
  [[phases.format]],
  [[phases.vitest]],
  [[phases.soak], [phases.release, phases.build, phases.front]],
  [[phases.browser]],
];

interface Result {
  name: string;
  ok: boolean;
  seconds: number;
  report?: PhaseReport | null;
}

/** Runs one phase; alone it prints as it goes, beside others its output is held and printed in one block when it ends. */
function runPhase(p: Phase, alone: boolean): Promise<Result> {
  if (alone) console.log(`\n━━━ ${p.name} ━━━`);
  const start = Date.now();
  return new Promise((resolve) => {
    const child = spawn(p.cmd, p.args, { stdio: alone ? "inherit" : ["ignore", "pipe", "pipe"], env: { ...env, ...p.env } });
    const held: Buffer[] = [];
    child.stdout?.on("data", (d: Buffer) => held.push(d));
    child.stderr?.on("data", (d: Buffer) => held.push(d));
    const done = (ok: boolean, extra = "") => {
      const seconds = Math.round((Date.now() - start) / 1000);
      if (!alone) {
        console.log(`\n━━━ ${p.name} (ran beside other phases, ${seconds} s) ━━━`);
        process.stdout.write(Buffer.concat(held));
      }
      if (extra) console.error(extra);
      let report: PhaseReport | null = null;
      try {
        report = p.report?.() ?? null;
      } catch (err) {
        console.error(`could not read the report of ${p.name}: ${(err as Error).message}`);
      }
      resolve({ name: p.name, ok, seconds, report });
    };
    child.on("error", (err) => done(false, `could not start ${p.name}: ${err.message}`));
    child.on("close", (code) => done(code === 0));
  });
}

const results: Result[] = [];
let buildFailed = false;
for (const stage of stages) {
  const alone = stage.length === 1 && stage[0].length === 1;
  const lanes = await Promise.all(
    stage.map(async (lane) => {
      const out: Result[] = [];
      for (const p of lane) {
        // Without a build there is nothing for the browser tests to open.
        if ((p === phases.browser || p === phases.front) && buildFailed) {
          out.push({ name: p.name, ok: false, seconds: 0 });
          continue;
        }
        const r = await runPhase(p, alone);
        out.push(r);
        if (!r.ok && p === phases.build) buildFailed = true;
      }
      return out;
    }),
  );
  results.push(...lanes.flat());
}

console.log("\n━━━ summary ━━━");
for (const r of results) {
  console.log(`${r.ok ? "PASS" : "FAIL"}  ${r.name} (${r.seconds} s)`);
  if (r.report) for (const line of describeReport(r.report)) console.log(line);
}
console.log(`temporary files: ${scratch.remove()} entries left in ${scratch.dir} by the tests, removed`);
console.log(`total ${Math.round((Date.now() - t0) / 1000)} s`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
