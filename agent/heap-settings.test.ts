import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runtimeFlags } from "./heap-settings";

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

/**
 * Probe code (node --allow-natives-syntax): runs a small function until V8 optimizes it or 3 s pass,
 * leaving its %GetOptimizationStatus in `st` (bit 16: optimized by TurboFan, bit 32768: compiled by Sparkplug).
 */
const RUN_HOT = `const status = new Function("f", "return %GetOptimizationStatus(f)");
function hot(n) { let s = 0; for (let i = 0; i < n; i++) s += (i * 7) % 13; return s; }
const end = Date.now() + 3000;
let st = 0;
while (Date.now() < end) { hot(1000); st = status(hot); if (st & 16) break; }`;

// A real process each: a hot function's tier after heap-settings.ts loaded with the command line
// `node probe.mjs <command>`, read with V8's %GetOptimizationStatus (bit 16: optimized by TurboFan,
// bit 32768: compiled by Sparkplug).
function tierAfterLoad(command: string, nodeArgs: string[] = []): { optimized: boolean; baseline: boolean } {
  const dir = mkdtempSync(path.join(os.tmpdir(), "lifeboat-tier-"));
  try {
    const probe = path.join(dir, "probe.mjs");
    writeFileSync(
      probe,
      `await import(${JSON.stringify(path.join(ROOT, "agent/heap-settings.ts"))});
${RUN_HOT}
console.log(JSON.stringify({ optimized: (st & 16) !== 0, baseline: (st & 32768) !== 0 }));
`,
    );
    const r = spawnSync(process.execPath, ["--allow-natives-syntax", ...nodeArgs, "--import", "tsx", probe, command], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("the backup's compilers", () => {
  it("runs a backup without TurboFan and Sparkplug, and sizes its heap for memory", () => {
    expect(runtimeFlags(["node", "cli.js", "backup", "--no-retention"], "")).toEqual([
      "--semi-space-growth-factor=1",
      "--no-opt",
      "--no-sparkplug",
      "--optimize-for-size",
      "--bytecode-old-age=1",
    ]);
    for (const command of ["serve", "restore", "--version"]) expect(runtimeFlags(["node", "cli.js", command], "")).toEqual(["--semi-space-growth-factor=1"]);
    expect(runtimeFlags(["node", "cli.js"], "")).toEqual(["--semi-space-growth-factor=1"]);
  });

  it("leaves an operator's own compiler and heap settings alone", () => {
    expect(runtimeFlags(["node", "cli.js", "backup"], "--max-semi-space-size=1 --turbofan")).toEqual(["--optimize-for-size", "--bytecode-old-age=1"]);
    expect(runtimeFlags(["node", "cli.js", "backup"], "--no-optimize-for-size --jitless --no-flush-bytecode")).toEqual(["--semi-space-growth-factor=1"]);
    expect(runtimeFlags(["node", "cli.js", "backup"], "--bytecode-old-age=3")).toEqual([
      "--semi-space-growth-factor=1",
      "--no-opt",
      "--no-sparkplug",
      "--optimize-for-size",
    ]);
  });

  it("takes effect when set at run time: a backup's hot function stays interpreted, serve's is optimized", () => {
    expect(tierAfterLoad("backup")).toEqual({ optimized: false, baseline: false });
    expect(tierAfterLoad("serve").optimized).toBe(true);
    // An operator's --opt wins.
    expect(tierAfterLoad("backup", ["--opt"]).optimized).toBe(true);
  }, 60_000);

  it("holds in the installed command from before its freshness walk over the sources", () => {
    // The probe looks when the bin first lists a directory (its walk): a hot function then must stay
    // interpreted for `backup` and be optimized for `status`, whose settings leave the compilers on.
    const dir = mkdtempSync(path.join(os.tmpdir(), "lifeboat-tier-"));
    try {
      const probe = path.join(dir, "probe.cjs");
      writeFileSync(
        probe,
        `const fs = require("node:fs");
const readdirSync = fs.readdirSync;
let seen = false;
fs.readdirSync = function (...args) {
  if (!seen) {
    seen = true;
    ${RUN_HOT}
    process.stderr.write("tier at the walk: " + ((st & 16) !== 0 ? "optimized" : "interpreted") + "\\n");
  }
  return readdirSync.apply(this, args);
};
`,
      );
      const tier = (command: string) => {
        const r = spawnSync(
          process.execPath,
          ["--allow-natives-syntax", "--require", probe, path.join(ROOT, "agent/bin/lifeboat-agent.js"), command, "--help"],
          {
            encoding: "utf8",
            env: { ...process.env, NODE_OPTIONS: "" },
          },
        );
        expect(r.status, r.stderr).toBe(0);
        return /tier at the walk: (\w+)/.exec(r.stderr)?.[1];
      };
      tier("--version"); // builds the bundle when it is missing
      expect(tier("backup")).toBe("interpreted");
      expect(tier("status")).toBe("optimized");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

// A real process each: 2,000 functions of a module run once, then old-generation churn until V8 has
// made three full collections of its own (forced ones, gc(), never drop bytecode), with heap-settings.ts
// loaded for `command`. Returns the share of the process's bytecode dropped by then.
function bytecodeDropped(command: string): number {
  const dir = mkdtempSync(path.join(os.tmpdir(), "lifeboat-flush-"));
  try {
    let fns = "export const fns = [];\n";
    for (let i = 0; i < 2000; i++) fns += `fns.push(function f${i}(a) { let s = ${i}; for (let j = 0; j < a; j++) s += (j * ${i}) % 7; return s; });\n`;
    writeFileSync(path.join(dir, "fns.mjs"), fns);
    const probe = path.join(dir, "probe.mjs");
    writeFileSync(
      probe,
      `await import(${JSON.stringify(path.join(ROOT, "agent/heap-settings.ts"))});
const v8 = await import("node:v8");
const { PerformanceObserver, constants } = await import("node:perf_hooks");
const bytecode = () => v8.getHeapCodeStatistics().bytecode_and_metadata_size;
let full = 0;
new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) full++; }).observe({ entryTypes: ["gc"] });
const { fns } = await import("./fns.mjs");
for (const f of fns) f(3);
const ran = bytecode();
let keep = [];
for (let round = 0; full < 3 && round < 5000; round++) {
  for (let i = 0; i < 20000; i++) keep.push({ a: i, b: [i] });
  if (keep.length > 400000) keep = [];
  await new Promise((r) => setImmediate(r));
}
console.log(JSON.stringify({ full, dropped: (ran - bytecode()) / ran }));
`,
    );
    const r = spawnSync(process.execPath, ["--import", "tsx", probe, command], { cwd: ROOT, encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } });
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { full: number; dropped: number };
    expect(got.full).toBe(3);
    return got.dropped;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("the backup's run-once code", () => {
  it("loses its bytecode at V8's first full collections in a backup, and keeps it in serve", () => {
    // Measured: 81 % in a backup, 17 % in serve (V8's default age is several collections).
    expect(bytecodeDropped("backup")).toBeGreaterThan(0.5);
    expect(bytecodeDropped("serve")).toBeLessThan(0.35);
  }, 60_000);
});
