import pino from "pino";
import { loadAgentConfig, type AgentConfig } from "./config";
import { JobRegistry } from "./jobs/job-registry";
import { createStore } from "./store";
import type { AgentDeps } from "./module";
import type { BackupStore } from "../lib/storage";

/** Builds the agent's dependencies from configuration (the environment by default). */
export function makeDeps(config: AgentConfig = loadAgentConfig(), opts: { logDestination?: pino.DestinationStream } = {}): AgentDeps {
  const log = pino(
    {
      level: config.logLevel,
      base: { component: "agent" },
      redact: {
        paths: ["passphrase", "token", "authorization", "secretAccessKey", "*.passphrase", "*.token", "*.secretAccessKey", "req.headers.authorization"],
        censor: "[redacted]",
      },
    },
    // Logs go to stderr so CLI commands can print JSON results on stdout.
    opts.logDestination ?? pino.destination(2),
  );
  let store: BackupStore | undefined;
  return { config, log, jobs: new JobRegistry({ stallMs: config.jobStallMs }), store: () => (store ??= createStore(config)) };
}
