import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { longestFirst, readDurations } from "./vitest-sequencer";

describe("the longest-first order of vitest's files", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "lifeboat-seq-"));

  it("orders by the estimate, longest first, and keeps the incoming order on ties", () => {
    const est: Record<string, number> = { a: 1, b: 60, c: 1, d: 30 };
    expect(longestFirst(["a", "b", "c", "d"], (f) => est[f])).toEqual(["b", "d", "a", "c"]);
  });

  it("reads the committed table, dropping entries that are not durations", () => {
    const file = path.join(dir, "ok.json");
    writeFileSync(file, JSON.stringify({ "agent/x.test.ts": 12.5, "lib/y.test.ts": "slow", "lib/z.test.ts": -1 }));
    expect(readDurations(file)).toEqual({ "agent/x.test.ts": 12.5 });
  });

  it("a missing or damaged table only loses the order, never the run", () => {
    expect(readDurations(path.join(dir, "absent.json"))).toEqual({});
    const bad = path.join(dir, "bad.json");
    writeFileSync(bad, '{"agent/x.test.ts": 1');
    expect(readDurations(bad)).toEqual({});
  });

  it("the committed table names the slow integration files", () => {
    const table = readDurations();
    expect(table["agent/restore/crash.test.ts"]).toBeGreaterThan(10);
  });
});
