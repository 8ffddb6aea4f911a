import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The demo's two command-line tools, simulated-k3s.ts and kine-writer.ts, as plain JavaScript for
 * the tests that start them hundreds of times. Through `node --import tsx` every start cost ~0.35 s
 * more (tsx's loader thread), and a restore test starts them about six times (k3s start, status,
 * stop, start again, and the writer twice). Built with esbuild, a dev dependency, into
 * node_modules/.cache/lifeboat-demo-tools/<hash of the sources it holds>/, again whenever one of
 * those sources changes. Null when esbuild is missing or the build fails: callers then run the
 * sources through tsx, as before.
 */
export interface DemoTools {
  /** simulated-k3s.js: `node <it> start|stop|status --server-dir …`. */
  simulatedK3s: string;
  /** kine-writer.js: `node <it> --db …`. */
  kineWriter: string;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const CACHE = path.join(ROOT, "node_modules", ".cache", "lifeboat-demo-tools");
const CURRENT = path.join(CACHE, "current.json");
const ENTRIES = ["simulated-k3s", "kine-writer"];

let memo: DemoTools | null | undefined;

/** The built tools (building them first when the sources changed), or null (see above). Never throws. */
export function demoTools(): DemoTools | null {
  // Plain JavaScript here (the tools run as a bundle) has no sources to build from.
  if (!import.meta.url.endsWith(".ts")) return null;
  memo ??= cached() ?? build();
  return memo;
}

const toolsIn = (dir: string): DemoTools => ({ simulatedK3s: path.join(dir, "simulated-k3s.js"), kineWriter: path.join(dir, "kine-writer.js") });

/** The hash of the sources (paths relative to the repository, and their bytes): the build's directory name. */
export function hashOf(inputs: string[]): string {
  const h = createHash("sha256");
  for (const rel of [...inputs].sort())
    h.update(rel)
      .update("\0")
      .update(readFileSync(path.join(ROOT, rel)))
      .update("\0");
  return h.digest("hex").slice(0, 16);
}

/** The last build, when every source it was made from is unchanged. */
function cached(): DemoTools | null {
  try {
    const { hash, inputs } = JSON.parse(readFileSync(CURRENT, "utf8")) as { hash: string; inputs: string[] };
    const dir = path.join(CACHE, hash);
    const tools = toolsIn(dir);
    return hashOf(inputs) === hash && existsSync(tools.simulatedK3s) && existsSync(tools.kineWriter) ? tools : null;
  } catch {
    return null;
  }
}

function build(): DemoTools | null {
  const tmp = path.join(CACHE, `tmp-${process.pid}-${Date.now()}`);
  try {
    mkdirSync(CACHE, { recursive: true });
    const esbuild = createRequire(import.meta.url)("esbuild") as typeof import("esbuild");
    const result = esbuild.buildSync({
      absWorkingDir: ROOT,
      entryPoints: ENTRIES.map((e) => path.join(HERE, `${e}.ts`)),
      outdir: tmp,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      metafile: true,
      logLevel: "silent",
      banner: { js: "import { createRequire as __lifeboatRequire } from 'node:module'; const require = __lifeboatRequire(import.meta.url);" },
    });
    const inputs = Object.keys(result.metafile!.inputs);
    const hash = hashOf(inputs);
    const dir = path.join(CACHE, hash);
    // Another test process may have built the same sources meanwhile: either copy is whole.
    if (!existsSync(dir)) {
      try {
        renameSync(tmp, dir);
      } catch (err) {
        if (!existsSync(dir)) throw err;
      }
    }
    const current = `${CURRENT}.${process.pid}`;
    writeFileSync(current, JSON.stringify({ hash, inputs }));
    renameSync(current, CURRENT);
    return toolsIn(dir);
  } catch {
    return null;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
