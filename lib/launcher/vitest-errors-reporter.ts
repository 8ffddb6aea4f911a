import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

/**
 * A vitest reporter that writes the run's unhandled errors (an exception or rejection outside any
 * test: vitest fails the run for one even when every test passed) to the JSON file named by
 * LIFEBOAT_VITEST_ERRORS. vitest's own json reporter leaves them out, so npm test's summary said
 * "632 passed" for a failed phase (CI, 2026-12-06); test-report.ts reads this file beside it.
 */
export default class UnhandledErrorsReporter {
  onTestRunEnd(_modules: unknown, unhandledErrors: ReadonlyArray<{ name?: string; message?: string; stack?: string }>): void {
    const file = process.env.LIFEBOAT_VITEST_ERRORS;
    if (!file) return;
    mkdirSync(path.dirname(file), { recursive: true });
    const errors = unhandledErrors.map((e) => ({ message: `${e.name ? `${e.name}: ` : ""}${e.message ?? String(e)}`, stack: e.stack ?? "" }));
    writeFileSync(file, JSON.stringify({ unhandledErrors: errors }, null, 2));
  }
}
