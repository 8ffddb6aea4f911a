#!/usr/bin/env node
// Bundles the agent (agent/cli-entry.ts: agent/cli.ts and everything it imports) with esbuild, so the installed
// `lifeboat-agent` runs as plain JavaScript: no tsx loader and no esbuild service in the process.
// Measured on the same `serve`: ~105-140 MB RSS through tsx, ~70-77 MB from the bundle (README,
// "Benchmarks"). Code splitting keeps what a command does not need (openpgp, the S3 SDK, zstd) out
// of memory until it is imported.
//
// Each build goes to its own directory, agent/dist/<build>/, and agent/dist/current names the newest:
// an agent that is running keeps loading its lazy chunks from the build it started with even when a
// newer build appears (the three newest builds are kept).
//
// Usage: node agent/bin/build-agent.mjs   (the bin runs it by itself when the bundle is missing or
// older than the sources; `npm run build:agent` does it explicitly).
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dist = path.join(root, "agent", "dist");
const name = `b-${Date.now()}-${process.pid}`;
const tmp = path.join(dist, `${name}.tmp`);
const version = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).version;

/** Files that find their neighbours through import.meta.url, which moves when bundled. */
const relocate = {
  name: "lifeboat-relocate",
  setup(b) {
    // agent/version.ts reads ../package.json relative to itself: inline the version instead.
    b.onLoad({ filter: /[\\/]agent[\\/]version\.ts$/ }, () => ({ contents: `export const AGENT_VERSION = ${JSON.stringify(version)};`, loader: "ts" }));
  },
};

/**
 * zod's `z.locales` (and `z.core.locales`): its 60-odd translations of its error messages, which the
 * agent never selects (its messages are English, which zod sets itself from locales/en.js, left alone
 * here). Bundled, every process that loads zod held their source text: 294 kB of the bundle, ~0.5 MB
 * of idle `serve` (docs/benchmarks.md, 2026-12-07 late evening). `z.locales.en` stays.
 */
const zodLocales = {
  name: "lifeboat-zod-locales",
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]v4[\\/](classic|core|mini)$/.test(args.resolveDir)
        ? { path: path.join(args.resolveDir, "../locales/index.js"), namespace: "lifeboat-zod-locales" }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "lifeboat-zod-locales" }, (args) => ({
      contents: 'export { default as en } from "./en.js";',
      resolveDir: path.dirname(args.path),
      loader: "js",
    }));
  },
};

mkdirSync(dist, { recursive: true });
await build({
  // The SQLite worker thread (agent/sqlite/worker.ts starts it) runs integrity_check and statistics
  // during a backup and a restore's verify step.
  // heap-settings.js: the bin (lifeboat-agent.js) loads it before its own work, so that the V8 settings
  // hold from the process's first hot loop on.
  entryPoints: {
    cli: path.join(root, "agent", "cli-entry.ts"),
    "worker-thread": path.join(root, "agent", "sqlite", "worker-thread.ts"),
    "heap-settings": path.join(root, "agent", "heap-settings.ts"),
  },
  outdir: tmp,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  // A package's ES module build before its CommonJS one (esbuild's default for node is the reverse).
  // Only the AWS SDK's packages resolve differently (the others name their files in "exports"). Their
  // ES modules import the credential sources the agent rarely uses (SSO, web identity, the ini file's
  // profiles, and the STS, SSO and sign-in clients they call) with import(): chunks of their own,
  // loaded only when used, where CommonJS's require() put them in the S3 client's chunk, loaded and
  // held by every backup: -210 kB of the bundle, ~1 MB of the backup's peak RSS (docs/benchmarks.md,
  // 2026-12-07 late evening; agent/bin/bundle.test.ts).
  mainFields: ["module", "main"],
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
  plugins: [relocate, zodLocales],
});
// lib/storage/embedded-s3.ts starts this file by a path relative to its own module.
copyFileSync(path.join(root, "lib", "storage", "s3rver-main.cjs"), path.join(tmp, "s3rver-main.cjs"));

renameSync(tmp, path.join(dist, name));
writeFileSync(path.join(dist, `current.${process.pid}`), name + "\n");
renameSync(path.join(dist, `current.${process.pid}`), path.join(dist, "current"));

// Keep the three newest builds; drop older ones and temporary directories of builds that died.
const builds = readdirSync(dist)
  .filter((n) => /^b-\d+-\d+$/.test(n))
  .sort((a, b) => Number(b.split("-")[1]) - Number(a.split("-")[1]));
for (const old of builds.slice(3)) rmSync(path.join(dist, old), { recursive: true, force: true });
for (const n of readdirSync(dist).filter((n) => n.endsWith(".tmp"))) {
  if (Date.now() - statSync(path.join(dist, n)).mtimeMs > 3600_000) rmSync(path.join(dist, n), { recursive: true, force: true });
}
