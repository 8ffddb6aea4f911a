#!/usr/bin/env node
// The installed `lifeboat-agent` command. It runs the esbuild bundle named by agent/dist/current
// (plain JavaScript: much less memory than loading the TypeScript through tsx), building it first
// when it is missing or older than any source file under agent/ or lib/ (about a second, once). If the
// bundle cannot be built (e.g. a read-only install), it falls back to tsx. LIFEBOAT_AGENT_TSX=1
// forces tsx (development).
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const dist = path.join(root, "agent", "dist");
const current = path.join(dist, "current");
/** The newest build's entry (agent/dist/<build>/cli.js), or null. */
const bundle = () => {
  try {
    const file = path.join(dist, readFileSync(current, "utf8").trim(), "cli.js");
    return existsSync(file) ? file : null;
  } catch {
    return null;
  }
};

/** Newest modification time of the sources the bundle is made from. */
function newestSource() {
  let newest = statSync(path.join(root, "package.json")).mtimeMs;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === "dist" || e.name === "node_modules") continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|cjs|mjs|js|json)$/.test(e.name)) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(path.join(root, "agent"));
  walk(path.join(root, "lib"));
  return newest;
}

const fresh = () => bundle() !== null && statSync(current).mtimeMs >= newestSource();

process.env.LIFEBOAT_AGENT_CLI = "1";
let useBundle = process.env.LIFEBOAT_AGENT_TSX !== "1";
// The agent's V8 settings (agent/heap-settings.ts) before the freshness walk below: its loop over every
// source file is hot enough for V8's optimizing compiler, whose code a backup then keeps in memory
// (docs/benchmarks.md, 2026-12-07). A bundle built before the file existed has none: then cli.js sets them.
const built = useBundle ? bundle() : null;
const settings = built ? path.join(path.dirname(built), "heap-settings.js") : null;
if (settings && existsSync(settings)) await import(pathToFileURL(settings).href);
if (useBundle && !fresh()) {
  const r = spawnSync(process.execPath, [path.join(here, "build-agent.mjs")], { stdio: ["ignore", "ignore", "pipe"] });
  useBundle = r.status === 0 && bundle() !== null;
  if (!useBundle)
    process.stderr.write(
      `lifeboat-agent: could not build agent/dist (${
        String(r.stderr ?? r.error)
          .trim()
          .split("\n")[0]
      }); running through tsx instead.\n`,
    );
}
if (useBundle) {
  await import(pathToFileURL(bundle()).href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../cli-entry.ts");
}
