// Reads the JSON reports vitest and Playwright write during `npm test` and names what failed, so the
// end of the run (often all a CI log keeps) says which test broke and why, not only which phase.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

export interface Failure {
  test: string;
  error: string;
}

export interface PhaseReport {
  /** The runner's own counts, e.g. "537 passed, 1 failed, 2 skipped (540)". */
  counts: string;
  failures: Failure[];
  /** Tests that failed first and passed on a retry: they passed, but say so. */
  flaky: string[];
}

const ESC = String.fromCharCode(27);
const ANSI = new RegExp(`${ESC}\\[[0-9;]*m`, "g");

/** The first lines of an error, without colours or stack frames. */
export function firstLines(message: string, lines = 4): string {
  return message
    .replace(ANSI, "")
    .split("\n")
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== "" && !/^\s*at /.test(l))
    .slice(0, lines)
    .join("\n");
}

function countsLine(parts: [string, number][], total: number): string {
  const said = parts.filter(([, n]) => n > 0).map(([what, n]) => `${n} ${what}`);
  return `${said.join(", ") || "no tests"} (${total})`;
}

interface VitestJson {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests?: number;
  testResults: {
    name: string;
    status: string;
    message?: string;
    assertionResults: { fullName: string; status: string; failureMessages?: string[] }[];
  }[];
}

/**
 * Vitest's `--reporter=json` output (Jest's shape). A file that failed to load has no assertions, only
 * a message. `errorsFile` is what vitest-errors-reporter.ts wrote: the unhandled errors, which fail
 * the run without failing a test and which the json output leaves out.
 */
export function readVitestReport(file: string, root: string, errorsFile?: string): PhaseReport | null {
  if (!existsSync(file)) return null;
  const r = JSON.parse(readFileSync(file, "utf8")) as VitestJson;
  const unhandled =
    errorsFile && existsSync(errorsFile)
      ? (JSON.parse(readFileSync(errorsFile, "utf8")) as { unhandledErrors: { message: string; stack: string }[] }).unhandledErrors
      : [];
  const failures: Failure[] = [];
  const flaky: string[] = [];
  for (const f of r.testResults) {
    const rel = path.relative(root, f.name);
    const failed = f.assertionResults.filter((a) => a.status === "failed");
    for (const a of failed) failures.push({ test: `${rel} › ${a.fullName}`, error: firstLines((a.failureMessages ?? []).join("\n")) });
    // A test that passed with errors on record failed first and passed on a retry (CI allows one).
    for (const a of f.assertionResults) {
      if (a.status === "passed" && (a.failureMessages ?? []).length > 0) flaky.push(`${rel} › ${a.fullName}: ${firstLines(a.failureMessages![0], 1)}`);
    }
    if (f.status === "failed" && failed.length === 0) failures.push({ test: rel, error: firstLines(f.message || "the file failed outside its tests") });
  }
  for (const e of unhandled) {
    // The stack's first frame in the project says where it came from; the message alone often does not.
    const at = e.stack
      .split("\n")
      .map((l) => /^\s*at .*?\(?((?:\/|file:)[^()]+?):\d+:\d+\)?$/.exec(l)?.[1])
      .find((f) => f && !f.includes("node_modules") && !f.startsWith("node:"));
    const where = at ? path.relative(root, at.replace(/^file:\/\//, "")) : "";
    failures.push({ test: `unhandled error outside any test${where ? ` (from ${where})` : ""}`, error: firstLines(e.message) });
  }
  const counts = countsLine(
    [
      ["passed", r.numPassedTests],
      ["failed", r.numFailedTests],
      ["skipped", r.numPendingTests + (r.numTodoTests ?? 0)],
      [unhandled.length > 1 ? "unhandled errors" : "unhandled error", unhandled.length],
    ],
    r.numTotalTests,
  );
  return { counts, failures, flaky };
}

interface PwSuite {
  title: string;
  file?: string;
  suites?: PwSuite[];
  specs?: { title: string; file: string; line: number; tests: { status: string; results: PwResult[] }[] }[];
}
interface PwResult {
  status: string;
  error?: { message?: string; location?: { file: string; line: number } };
}

/** A failed attempt's first error with the line it failed at ("… (at auth.spec.ts:343)"): a test with several waits says which one. */
function attemptError(r: PwResult | undefined, lines = 4): string {
  if (!r?.error) return `ended ${r?.status ?? "without a result"}`;
  const at = r.error.location ? ` (at ${path.basename(r.error.location.file)}:${r.error.location.line})` : "";
  const text = firstLines(r.error.message ?? "an error", lines).split("\n");
  text[0] += at;
  return text.join("\n");
}
interface PwJson {
  suites: PwSuite[];
  errors?: { message?: string }[];
  stats: { expected: number; unexpected: number; flaky: number; skipped: number };
}

/** Playwright's json reporter output: specs nested in describe blocks; a test's status is expected, unexpected, flaky or skipped. */
export function readPlaywrightReport(file: string): PhaseReport | null {
  if (!existsSync(file)) return null;
  const r = JSON.parse(readFileSync(file, "utf8")) as PwJson;
  const failures: Failure[] = [];
  const flaky: string[] = [];
  // The top-level suites are files (their title is the file name, already in the spec's own `file`).
  const walk = (s: PwSuite, titles: string[], isFile = false) => {
    const here = isFile ? [] : [...titles, s.title];
    for (const spec of s.specs ?? []) {
      const name = `${spec.file}:${spec.line} › ${[...here, spec.title].filter(Boolean).join(" › ")}`;
      for (const t of spec.tests) {
        if (t.status === "unexpected") {
          const failed = t.results.filter((x) => x.status !== "passed" && x.status !== "skipped");
          const last = t.results[t.results.length - 1];
          // A retry that failed elsewhere than the first try: both places, the first on one line.
          const first =
            failed.length > 1 && failed[0]!.error?.location?.line !== last?.error?.location?.line ? [`first try: ${attemptError(failed[0], 1)}`] : [];
          failures.push({ test: name, error: [attemptError(last), ...first].join("\n") });
        } else if (t.status === "flaky") {
          const firstFailure = t.results.find((x) => x.error);
          flaky.push(`${name}: ${attemptError(firstFailure, 1)}`);
        }
      }
    }
    for (const child of s.suites ?? []) walk(child, here);
  };
  for (const s of r.suites) walk(s, [], true);
  for (const e of r.errors ?? []) failures.push({ test: "(outside any test)", error: firstLines(e.message ?? "an error") });
  const { expected, unexpected, flaky: nFlaky, skipped } = r.stats;
  const counts = countsLine(
    [
      ["passed", expected],
      ["failed", unexpected],
      ["flaky", nFlaky],
      ["skipped", skipped],
    ],
    expected + unexpected + nFlaky + skipped,
  );
  return { counts, failures, flaky };
}

/** The lines the summary prints under a phase. */
export function describeReport(rep: PhaseReport): string[] {
  const out = [`      ${rep.counts}`];
  for (const f of rep.failures) {
    out.push(`      ✗ ${f.test}`);
    for (const l of f.error.split("\n")) if (l) out.push(`          ${l}`);
  }
  for (const t of rep.flaky) out.push(`      ! passed on a retry: ${t}`);
  return out;
}
