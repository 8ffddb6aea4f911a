import type { ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { killGroup, startProcess, waitForHttp } from "../../lib/process";
import { freePort } from "./ports";

export interface RunningDashboard {
  url: string;
  dataDir: string;
  process: ChildProcess;
  /** Everything the server printed, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts the built dashboard (`next start`) on a free port with a throw-away data directory and the
 * given environment. Resolves when it answers HTTP. Build first (global setup does).
 */
export async function startDashboard(opts: { env?: Record<string, string>; dataDir?: string } = {}): Promise<RunningDashboard> {
  const port = await freePort();
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), "lifeboat-e2e-data-"));
  const proc = startProcess(process.execPath, ["node_modules/next/dist/bin/next", "start", "-p", String(port), "-H", "127.0.0.1"], {
    env: {
      ...process.env,
      NEXT_TELEMETRY_DISABLED: "1",
      LIFEBOAT_NEXT_DIST: process.env.LIFEBOAT_NEXT_DIST || ".next-e2e",
      LIFEBOAT_DATA_DIR: dataDir,
      LOG_LEVEL: "warn",
      ...opts.env,
    },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(url + "/api/livez", { timeoutMs: 60_000, what: "the dashboard", proc });
  return { url, dataDir, process: proc.child, output: proc.output, stop: () => proc.stop() };
}

// Specs stop the launcher (`npm start`) with it too.
export { killGroup };
