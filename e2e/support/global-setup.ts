import { existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { useTestScratch } from "../../lib/launcher/test-scratch";

/**
 * Builds the agent's bundle when the sources are newer (the bin does that by itself; once here, not in
 * each agent a test starts), and the dashboard once when there is no build in LIFEBOAT_NEXT_DIST
 * (npm test builds before). Temporary files go under one directory of the run, removed by the
 * returned teardown (lib/launcher/test-scratch.ts).
 */
export default function globalSetup(): () => void {
  const agent = spawnSync(process.execPath, ["agent/bin/lifeboat-agent.js", "--version"], { encoding: "utf8" });
  if (agent.status !== 0) throw new Error(`lifeboat-agent --version failed: the browser tests need the agent\n${agent.stderr}`);
  const dist = process.env.LIFEBOAT_NEXT_DIST || ".next-e2e";
  process.env.LIFEBOAT_NEXT_DIST = dist;
  if (!existsSync(path.join(dist, "BUILD_ID")) || process.env.LIFEBOAT_E2E_REBUILD) {
    console.log(`building the dashboard into ${dist} for browser tests…`);
    const r = spawnSync("node_modules/.bin/next", ["build"], { stdio: "inherit", env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" } });
    if (r.status !== 0) throw new Error("next build failed: the browser tests need a build");
  }
  const scratch = useTestScratch();
  return () => void scratch.remove();
}
