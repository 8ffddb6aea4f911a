import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

// A real process each: V8's young generation after allocating ~200 MB of short-lived objects, with
// heap-settings.ts loaded first (as cli.ts loads it) and without.
const ROOT = path.resolve(import.meta.dirname, "..");
const CHURN = `
  const v8 = require("node:v8");
  let keep = [];
  for (let i = 0; i < 3e6; i++) { const o = { a: i, b: "x" + i, c: [i, i] }; if (i % 1000 === 0) keep.push(o); }
  const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === "new_space");
  console.log(JSON.stringify({ newSpaceMb: s.space_size / 2 ** 20, kept: keep.length }));
`;

function newSpaceMb(opts: { settings: boolean; nodeOptions?: string }): number {
  const script = opts.settings ? `require(${JSON.stringify(path.join(ROOT, "agent/heap-settings.ts"))});\n${CHURN}` : CHURN;
  const r = spawnSync(process.execPath, ["--import", "tsx", "-e", script], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, NODE_OPTIONS: opts.nodeOptions ?? "" },
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!).newSpaceMb;
}

describe("the agent's young generation", () => {
  it("stays at its first size under Node's defaults once heap-settings.ts is loaded, and grows without it", () => {
    expect(newSpaceMb({ settings: false })).toBeGreaterThan(8);
    expect(newSpaceMb({ settings: true })).toBeLessThanOrEqual(4);
  });

  it("leaves an operator's own young-generation setting alone", () => {
    expect(newSpaceMb({ settings: true, nodeOptions: "--max-semi-space-size=8" })).toBeGreaterThan(8);
  });

  it("is set before the installed command loads its modules: the bundle's young generation stays at its first size", () => {
    // A probe reports the young generation's size as the process exits: `lifeboat-agent --version`
    // loads the whole CLI (zod, the contracts, the commands), which grows it to 8 MB when the
    // setting comes later.
    const dir = mkdtempSync(path.join(os.tmpdir(), "lifeboat-heap-"));
    try {
      const probe = path.join(dir, "probe.cjs");
      writeFileSync(
        probe,
        `process.on("exit", () => { const s = require("node:v8").getHeapSpaceStatistics().find((x) => x.space_name === "new_space"); process.stderr.write("new_space " + s.space_size + "\\n"); });\n`,
      );
      const r = spawnSync(process.execPath, [path.join(ROOT, "agent/bin/lifeboat-agent.js"), "--version"], {
        encoding: "utf8",
        env: { ...process.env, NODE_OPTIONS: `--require ${probe}` },
      });
      expect(r.status, r.stderr).toBe(0);
      const bytes = Number(/new_space (\d+)/.exec(r.stderr)?.[1]);
      expect(bytes / 2 ** 20).toBeLessThanOrEqual(4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
