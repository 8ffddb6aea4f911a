// `npm run test:durations`: writes lib/launcher/test-durations.json (seconds per vitest file) from the
// report of the last full `npm test` or `npx vitest run --reporter=json --outputFile.json=test-reports/vitest.json`.
// lib/launcher/vitest-sequencer.ts starts the longest files first from it.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

const report = path.resolve(process.argv[2] ?? "test-reports/vitest.json");
const out = path.join(import.meta.dirname, "test-durations.json");
let parsed: { testResults?: { name: string; startTime: number; endTime: number }[] };
try {
  parsed = JSON.parse(readFileSync(report, "utf8"));
} catch (err) {
  console.error(`could not read ${report} (${(err as Error).message}): run npm test (or vitest with the json reporter) first.`);
  process.exit(1);
}
// Names are absolute paths in the checkout that ran them: this one (run the script from its root).
const root = process.cwd();
const table: Record<string, number> = {};
for (const r of parsed.testResults ?? []) {
  const rel = path.relative(root, r.name).split(path.sep).join("/");
  if (!rel.startsWith("..") && r.endTime > r.startTime) table[rel] = Math.round((r.endTime - r.startTime) / 100) / 10;
}
if (!Object.keys(table).length) {
  console.error(`${report} names no test file under ${root}: run this from the checkout whose tests wrote it.`);
  process.exit(1);
}
const sorted = Object.fromEntries(Object.entries(table).sort(([a], [b]) => a.localeCompare(b)));
writeFileSync(out, JSON.stringify(sorted, null, 2) + "\n");
console.log(`wrote ${Object.keys(sorted).length} durations to ${path.relative(root, out)}`);
