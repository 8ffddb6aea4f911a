// A test run's temporary directory: every temporary file of the run (tests' data directories and
// their secrets, stores, SQLite's temp files, browser profiles) goes under one directory, removed when
// the run ends, so a run leaves nothing in the machine's /tmp, whatever a test forgot to clean up or
// a killed process left behind. npm test (test-all.ts) makes one for all its phases; vitest's and
// Playwright's global setups make one when run alone (nested inside npm test's, which is harmless).
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export interface TestScratch {
  dir: string;
  /** Removes the directory; answers how many entries the run had left in it. */
  remove(): number;
}

/** Makes the run's directory and points TMPDIR (which os.tmpdir(), SQLite and Chromium read) at it for this process and its children. */
export function useTestScratch(): TestScratch {
  const dir = mkdtempSync(path.join(tmpdir(), "lifeboat-test-run-"));
  process.env.TMPDIR = dir;
  return {
    dir,
    remove() {
      let left = 0;
      try {
        left = readdirSync(dir).length;
      } catch {
        // already gone
      }
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      return left;
    },
  };
}

/** vitest's globalSetup: the returned function is its teardown. */
export default function setup(): () => void {
  const scratch = useTestScratch();
  return () => void scratch.remove();
}
