import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "@playwright/test";
import { killGroup } from "./dashboard";
import { freePort } from "./ports";

export interface RunningDemo {
  url: string;
  dataDir: string;
  process: ChildProcess;
  /** Everything npm start printed so far. */
  output(): string;
  /** Stops everything npm start started and removes the data directory (the demo history is ~250 MB). */
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

/**
 * `npm start`'s launcher as a newcomer runs it: a fresh data directory, no bucket, no agent — so
 * the embedded S3 store, the demo history and the demo agent — with the build global setup made.
 * Resolves once it has printed its whole ready message (where to open the dashboard, down to
 * "Stop with Ctrl-C.").
 */
export async function startDemoLauncher(prefix: string): Promise<RunningDemo> {
  const dataDir = mkdtempSync(path.join(tmpdir(), prefix));
  const port = await freePort();
  let output = "";
  const launcher = spawn(process.execPath, ["--import", "tsx", "lib/launcher/start.ts"], {
    env: {
      ...process.env,
      LIFEBOAT_DATA_DIR: dataDir,
      PORT: String(port),
      LIFEBOAT_NEXT_DIST: process.env.LIFEBOAT_NEXT_DIST || ".next-e2e",
      // Global setup built the dashboard; other specs' edits must not trigger a rebuild here.
      LIFEBOAT_BUILD: "never",
      LOG_LEVEL: "warn",
      AWS_S3_BUCKET: "",
      AWS_S3_ENDPOINT: "",
      LIFEBOAT_AGENT_URL: "",
    },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  launcher.stdout!.on("data", (d) => (output += d));
  launcher.stderr!.on("data", (d) => (output += d));
  await expect
    .poll(
      () => {
        if (launcher.exitCode !== null) throw new Error(`npm start exited (${launcher.exitCode}):\n${output}`);
        // The whole ready message: its last line comes after the URL, sometimes in a later chunk of output.
        if (!output.includes("Stop with Ctrl-C.")) return "";
        return /Lifeboat is ready .*open (http:\/\/\S+)/.exec(output)?.[1] ?? "";
      },
      { timeout: 200_000, intervals: [500] },
    )
    .not.toBe("");
  return {
    url: /open (http:\/\/\S+)/.exec(output)![1],
    dataDir,
    process: launcher,
    output: () => output,
    async stop(opts = {}) {
      await killGroup(launcher);
      if (!opts.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
