// Orders vitest's test files longest first, so the two forks of a 2-core machine finish together.
// Vitest's own order needs its cache of earlier durations, which a clean checkout (CI) does not have:
// there it runs files in size order, and a 60 s file that starts late left one fork idle for the last
// ~100 s of the run. Here the cache is used when it knows a file, else the durations measured in an
// earlier full run (lib/launcher/test-durations.json, `npm run test:durations` refreshes it from
// test-reports/vitest.json), else the file is taken as short. Only the order changes, never what runs.
import { readFileSync } from "node:fs";
import path from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

const TABLE = path.join(import.meta.dirname, "test-durations.json");

/** Seconds per test file (path relative to the repository root) from the table; {} when it is missing or damaged. */
export function readDurations(file = TABLE): Record<string, number> {
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, "utf8"));
    if (!parsed || typeof parsed !== "object") return {};
    return Object.fromEntries(Object.entries(parsed).filter(([, v]) => typeof v === "number" && Number.isFinite(v) && v >= 0)) as Record<string, number>;
  } catch {
    return {};
  }
}

/** Longest first by the given estimate (milliseconds); ties keep the incoming order. */
export function longestFirst<T>(items: T[], estimateMs: (item: T) => number): T[] {
  return items
    .map((item, i) => ({ item, i, ms: estimateMs(item) }))
    .sort((a, b) => b.ms - a.ms || a.i - b.i)
    .map((x) => x.item);
}

export default class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const table = readDurations();
    const root = this.ctx.config.root;
    return longestFirst(files, (spec) => {
      const rel = path.relative(root, spec.moduleId).split(path.sep).join("/");
      const cached = this.ctx.cache.getFileTestResults(`${spec.project.name}:${rel}`)?.duration;
      return cached ?? (table[rel] ?? 1) * 1000;
    });
  }
}
