#!/usr/bin/env node
// Bundles the agent (agent/cli.ts and everything it imports) into agent/dist/ with esbuild, so the
// installed `lifeboat-agent` runs as plain JavaScript: no tsx loader and no esbuild service in the
// process. Measured on the same `serve`: ~105 MB RSS through tsx, ~45 MB from the bundle (README,
// "agent (backup)"). Code splitting keeps what a command does not need (openpgp, the S3 SDK, zstd)
// out of memory until it is imported.
//
// Usage: node agent/bin/build-agent.mjs   (the bin runs it by itself when the bundle is missing or
// older than the sources; `npm run build:agent` does it explicitly).
// Writes to a temporary directory and swaps it in, so a concurrent run never sees half a bundle.
import { build } from "esbuild";
import { copyFileSync, readFileSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dist = path.join(root, "agent", "dist");
const tmp = `${dist}.tmp-${process.pid}`;
const version = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).version;

/** Files that find their neighbours through import.meta.url, which moves when bundled. */
const relocate = {
  name: "lifeboat-relocate",
  setup(b) {
    // agent/version.ts reads ../package.json relative to itself: inline the version instead.
    b.onLoad({ filter: /[\\/]agent[\\/]version\.ts$/ }, () => ({ contents: `export const AGENT_VERSION = ${JSON.stringify(version)};`, loader: "ts" }));
  },
};

rmSync(tmp, { recursive: true, force: true });
await build({
  // check-worker runs integrity_check and statistics on a worker thread during a backup.
  entryPoints: { cli: path.join(root, "agent", "cli.ts"), "check-worker": path.join(root, "agent", "backup", "check-worker.ts") },
  outdir: tmp,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: "linked",
  // Less source text held in memory; identifiers stay readable in stack traces.
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: "warning",
  // Native addons and the embedded S3 server (run in its own process) load from node_modules.
  external: ["better-sqlite3", "zstd-napi", "s3rver", "pino-pretty", "@playwright/test", "next"],
  // Bundled CommonJS dependencies still call require() for Node's built-ins.
  banner: { js: "import { createRequire as __lifeboatRequire } from 'node:module'; const require = __lifeboatRequire(import.meta.url);" },
  plugins: [relocate],
});
// lib/storage/embedded-s3.ts starts this file by a path relative to its own module.
copyFileSync(path.join(root, "lib", "storage", "s3rver-main.cjs"), path.join(tmp, "s3rver-main.cjs"));

const old = `${dist}.old-${process.pid}`;
try {
  renameSync(dist, old);
} catch {
  // no previous bundle
}
renameSync(tmp, dist);
rmSync(old, { recursive: true, force: true });
