import { build, type Metafile } from "esbuild";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "../..");

/**
 * The modules `entry` (a path from the repository's root, e.g. "agent/cli.ts") reaches through static
 * imports, as esbuild resolves them for agent/bin/build-agent.mjs's bundle: what a process or thread
 * started from that entry loads before its first `import()` runs (code splitting puts everything
 * reached only through `import()` into chunks loaded on demand). External packages are listed by name
 * ("better-sqlite3"), bundled files by their path from the root ("node_modules/zod/v4/core/core.js").
 */
export async function staticClosure(entry: string): Promise<string[]> {
  const { metafile } = await build({
    entryPoints: [path.join(root, entry)],
    absWorkingDir: root,
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
  if (!inputs[entry]) throw new Error(`esbuild did not read ${entry}: give its path from the repository's root`);
  const seen = new Set([entry]);
  const queue = [entry];
  while (queue.length) {
    for (const imp of inputs[queue.shift()!]?.imports ?? []) {
      if (imp.kind !== "import-statement" || seen.has(imp.path)) continue;
      seen.add(imp.path);
      if (!imp.external) queue.push(imp.path);
    }
  }
  return [...seen];
}
