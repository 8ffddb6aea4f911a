// The release's dashboard entry (`node dashboard/lifeboat-dashboard.mjs`): the same front as
// `npm start` (lib/http/dashboard-server.ts: the real client address, the 1 MiB body limit) in front
// of Next.js's standalone build, instead of the standalone `server.js`, which passes a client's
// headers through as they come and so cannot tell the app who is connected.
// lib/launcher/build-release.ts bundles this file with esbuild, `next` left to the standalone's own
// node_modules. Settings: PORT (3000), LIFEBOAT_HOST (then HOSTNAME, then 127.0.0.1).
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startDashboardServer } from "./dashboard-server";

const dir = path.dirname(fileURLToPath(import.meta.url));

/** Next.js's configuration as the standalone build wrote it. Throws when the build is not beside this file. */
function standaloneConfig(): Record<string, unknown> {
  // lib/launcher/build-release.ts builds into .next-release.
  const file = path.join(dir, ".next-release", "required-server-files.json");
  try {
    return (JSON.parse(readFileSync(file, "utf8")) as { config: Record<string, unknown> }).config;
  } catch (err) {
    throw new Error(`no standalone build at ${file} (${(err as Error).message}); unpack the whole release and start dashboard/lifeboat-dashboard.mjs from it`);
  }
}

(process.env as Record<string, string>).NODE_ENV = "production";
process.chdir(dir);
try {
  const conf = standaloneConfig();
  // What Next.js's own standalone server.js sets before it loads the server.
  process.env.__NEXT_PRIVATE_STANDALONE_CONFIG = JSON.stringify(conf);
  const port = Number(process.env.PORT || "3000");
  const host = process.env.LIFEBOAT_HOST || process.env.HOSTNAME || "127.0.0.1";
  const s = await startDashboardServer({ port, host, dir, conf });
  process.stdout.write(`dashboard listening on ${s.url}\n`);
  const stop = () => void s.close().then(() => process.exit(0));
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
} catch (err) {
  process.stderr.write(`The dashboard could not start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
