import type { Command } from "./command";
import { readArgs, usageError } from "./args";
import { AgentConfigError } from "../config";

/**
 * `lifeboat-agent demo-init --data-dir <dir>`: fills the configured (empty) store with the demo
 * history and creates the demo server directory under `<dir>/demo/`. The store comes from the usual
 * variables (AWS_S3_ENDPOINT, AWS_S3_BUCKET, AWS_S3_PATH, keys, or LIFEBOAT_BACKUP_DIR), never argv.
 */
export const demoCommand: Command = {
  name: "demo-init",
  summary: "Create the demo k3s server directory and fill an empty bucket with 90 nights of demo backups.",
  usage: "lifeboat-agent demo-init --data-dir <dir>   (store from AWS_S3_* or LIFEBOAT_BACKUP_DIR; prints a JSON summary)",
  options: { values: ["--data-dir"] },
  async run(args, deps, io) {
    const a = readArgs(demoCommand, args, io);
    if (!a) return 2;
    const dataDir = a.value("--data-dir");
    if (!dataDir) return usageError(demoCommand, io, "demo-init: --data-dir <dir> is required (the demo writes <dir>/demo/).");
    // Loaded here, not at start: the demo generator and openpgp.js would otherwise sit in every
    // agent's memory (`serve` included) for a command run once.
    const { initDemo, DemoRefusedError } = await import("../demo/demo-init");
    try {
      const result = await initDemo({ dataDir, store: deps.store(), onProgress: (m) => io.err(m) });
      if (result.skipped) io.err(`demo: already set up in ${dataDir} (delete ${dataDir} to start over)`);
      else io.err(`demo: ${result.sets} backup sets (${(result.bytes / 1e6).toFixed(0)} MB) in ${(result.ms / 1000).toFixed(1)} s`);
      io.out(JSON.stringify(result));
      return 0;
    } catch (err) {
      if (err instanceof DemoRefusedError || err instanceof AgentConfigError) {
        io.err(`demo-init: ${err.message}`);
        return 2;
      }
      throw err;
    }
  },
};
