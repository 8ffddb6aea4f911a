// `npm run build:release`: one tarball to install from, for this machine's platform and architecture
// (the native modules better-sqlite3 and zstd-napi are built for it):
//
//   lifeboat-<version>-linux-<arch>/
//     dashboard/   Next.js's standalone output (`output: "standalone"`) and our front for it
//                  (lib/http/release-server.ts): node dashboard/lifeboat-dashboard.mjs; the
//                  accounts command (lib/auth/cli.ts): node dashboard/lifeboat-users.cjs
//     agent/       the agent bundle (agent/bin/build-agent.mjs) with the native modules it loads:
//                  node agent/lifeboat-agent.mjs <command>
//     deploy/      the systemd units, environment template and Kubernetes manifests
//     SHA256SUMS   every file above (sha256sum -c SHA256SUMS)
//   lifeboat-<version>-linux-<arch>.tar.gz and .tar.gz.sha256 beside it
//
// Usage: node --import tsx lib/launcher/build-release.ts [--out DIR]   (default release/)
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildSync } from "esbuild";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
/** A build directory of its own: a release build never clobbers the one `npm start` or the tests use. */
const DIST = ".next-release";
/** What the agent bundle leaves to node_modules and a server needs (s3rver and pino-pretty are for the demo and development). */
const AGENT_NATIVE = ["better-sqlite3", "bindings", "file-uri-to-path", "zstd-napi"];

const say = (s: string) => process.stdout.write(s + "\n");
const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

/** Regular files below `dir`, relative, sorted. Symlinks (Next.js links its external packages into node_modules, relatively) are left to tar. */
function files(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name), base) : e.isFile() ? [path.relative(base, path.join(dir, e.name))] : []))
    .sort();
}

/** Runs `node args` in the checkout; throws with its output when it fails. */
function node(args: string[], env: Record<string, string> = {}): void {
  execFileSync(process.execPath, args, { cwd: ROOT, stdio: "inherit", env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", ...env } });
}

/** Builds the release into `outDir`; resolves with the tarball's path. Throws when a build step fails. */
export function buildRelease(outDir: string): string {
  const version = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")).version as string;
  const name = `lifeboat-${version}-${process.platform}-${process.arch}`;
  const stage = path.join(outDir, name);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });

  say(`Building the dashboard (standalone) into ${DIST}…`);
  // next build adds its build directory's types to tsconfig.json's include: a release leaves the checkout as it was.
  const tsconfig = path.join(ROOT, "tsconfig.json");
  const tsconfigText = readFileSync(tsconfig, "utf8");
  try {
    node(["node_modules/next/dist/bin/next", "build"], { LIFEBOAT_NEXT_DIST: DIST, LIFEBOAT_STANDALONE: "1" });
  } finally {
    if (readFileSync(tsconfig, "utf8") !== tsconfigText) writeFileSync(tsconfig, tsconfigText);
  }
  const standalone = path.join(ROOT, DIST, "standalone");
  if (!existsSync(path.join(standalone, "server.js"))) throw new Error(`next build made no ${DIST}/standalone/server.js`);
  const dashboard = path.join(stage, "dashboard");
  cpSync(standalone, dashboard, { recursive: true, verbatimSymlinks: true });
  // Next.js leaves the static assets and public/ to be copied next to the standalone server.
  cpSync(path.join(ROOT, DIST, "static"), path.join(dashboard, DIST, "static"), { recursive: true });
  if (existsSync(path.join(ROOT, "public"))) cpSync(path.join(ROOT, "public"), path.join(dashboard, "public"), { recursive: true });
  // The entry: the dashboard's own front (the real client address, the body limit) around the
  // standalone build; `next` is the standalone's own.
  buildSync({
    entryPoints: [path.join(ROOT, "lib", "http", "release-server.ts")],
    outfile: path.join(dashboard, "lifeboat-dashboard.mjs"),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // better-sqlite3 (the front reads lifeboat.db before Next.js starts: lib/http/data-dir.ts) is a
    // CommonJS addon the standalone build already carries in its node_modules; bundled into ESM its
    // require("fs") fails.
    external: ["next", "better-sqlite3"],
    logLevel: "warning",
  });
  // The locked-out admin's way back (`npm run users` in a checkout): accounts in lifeboat.db, run
  // beside the dashboard as the user it runs as. CommonJS, as better-sqlite3 and @next/env are;
  // "react-server" makes `server-only` the empty module it is on the server.
  buildSync({
    entryPoints: [path.join(ROOT, "lib", "auth", "cli.ts")],
    outfile: path.join(dashboard, "lifeboat-users.cjs"),
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    conditions: ["react-server"],
    external: ["better-sqlite3"],
    logLevel: "warning",
  });

  say("Building the agent bundle…");
  node(["agent/bin/build-agent.mjs"]);
  const build = readFileSync(path.join(ROOT, "agent", "dist", "current"), "utf8").trim();
  const agent = path.join(stage, "agent");
  cpSync(path.join(ROOT, "agent", "dist", build), path.join(agent, "dist"), { recursive: true });
  // Only what loads at run time: compiled addons, their JavaScript and package.json (no sources, objects, static libs).
  for (const pkg of AGENT_NATIVE)
    cpSync(path.join(ROOT, "node_modules", pkg), path.join(agent, "node_modules", pkg), {
      recursive: true,
      filter: (src) => !/[/\\](deps|src|obj|obj\.target|test)([/\\]|$)|\.(a|o|cc|h|gyp|gypi)$/.test(path.relative(path.join(ROOT, "node_modules", pkg), src)),
    });
  writeFileSync(path.join(agent, "package.json"), JSON.stringify({ name: "lifeboat-agent", version, type: "module", private: true }, null, 2) + "\n");
  writeFileSync(
    path.join(agent, "lifeboat-agent.mjs"),
    [
      "#!/usr/bin/env node",
      "// The released agent: its bundle (dist/cli.js), with the native modules beside it.",
      'process.env.LIFEBOAT_AGENT_CLI = "1";',
      'await import("./dist/cli.js");',
      "",
    ].join("\n"),
    { mode: 0o755 },
  );

  cpSync(path.join(ROOT, "deploy"), path.join(stage, "deploy"), { recursive: true, filter: (src) => !/\.test\.ts$|[/\\]tests$/.test(src) });

  const sums = files(stage).map((f) => `${sha256(path.join(stage, f))}  ${f}`);
  writeFileSync(path.join(stage, "SHA256SUMS"), sums.join("\n") + "\n");
  const tarball = path.join(outDir, `${name}.tar.gz`);
  execFileSync("tar", ["-czf", tarball, "-C", outDir, name]);
  writeFileSync(`${tarball}.sha256`, `${sha256(tarball)}  ${path.basename(tarball)}\n`);
  rmSync(stage, { recursive: true, force: true });
  say(`${tarball} (${(statSync(tarball).size / 1e6).toFixed(1)} MB), checksum in ${path.basename(tarball)}.sha256; inside, SHA256SUMS covers every file.`);
  return tarball;
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const i = process.argv.indexOf("--out");
  try {
    buildRelease(path.resolve(i > 0 ? process.argv[i + 1] : path.join(ROOT, "release")));
  } catch (err) {
    process.stderr.write(`build:release failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
