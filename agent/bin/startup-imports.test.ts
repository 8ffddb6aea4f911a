import { build, type Metafile } from "esbuild";
import path from "node:path";
import { describe, expect, it } from "vitest";

/**
 * What every `lifeboat-agent` command, `serve` included, loads before it runs: the modules agent/cli.ts
 * reaches through static imports (the bundle's code splitting loads the rest only when an `import()`
 * runs). An idle `serve` holds everything here for good, so what only a backup, a restore, the doctor
 * or the log's upload needs must stay behind an `import()` (docs/benchmarks.md, "Idle serve").
 */
const root = path.resolve(import.meta.dirname, "../..");

async function staticClosure(): Promise<string[]> {
  const { metafile } = await build({
    entryPoints: [path.join(root, "agent/cli.ts")],
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    outdir: "/nonexistent", // not written
    write: false,
    metafile: true,
    logLevel: "silent",
    external: ["better-sqlite3", "zstd-napi", "s3rver", "pino-pretty", "@playwright/test", "next"],
  });
  const inputs: Metafile["inputs"] = metafile.inputs;
  const seen = new Set(["agent/cli.ts"]);
  const queue = ["agent/cli.ts"];
  while (queue.length) {
    for (const imp of inputs[queue.shift()!]?.imports ?? []) {
      if (imp.kind !== "import-statement" || seen.has(imp.path)) continue;
      seen.add(imp.path);
      if (!imp.external) queue.push(imp.path);
    }
  }
  return [...seen];
}

describe("the agent's start", () => {
  it("loads no S3 SDK, archive pipeline, OpenPGP, zstd, tar or SQLite until a command needs them", async () => {
    const loaded = await staticClosure();
    expect(loaded).toContain("agent/commands/serve.ts"); // the walk itself works
    const heavy = loaded.filter((p) =>
      /node_modules\/(@aws-sdk|@smithy|tar|openpgp)\/|^(zstd-napi|better-sqlite3)$|^agent\/(archive|backup\/archive-pipeline|sqlite|restore\/runner|continuous\/shipper)/.test(
        p,
      ),
    );
    expect(heavy).toEqual([]);
  }, 30_000);
});
