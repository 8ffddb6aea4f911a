import type { Logger } from "pino";
import type { AgentConfig } from "./config";
import type { JobRegistry } from "./jobs/job-registry";
import type { Router } from "./http/router";
import type { BackupStore } from "../lib/storage";

/** What every part of the agent gets: configuration, logging, the job registry and the backup store. */
export interface AgentDeps {
  config: AgentConfig;
  log: Logger;
  jobs: JobRegistry;
  /** The configured backup store; throws AgentConfigError when none is configured. */
  store(): BackupStore;
}

/**
 * A feature of the agent (backups, health, recoveries, restores): its HTTP routes and, for `serve`,
 * background work such as the backup schedule.
 */
export interface AgentModule {
  name: string;
  routes(router: Router, deps: AgentDeps): void;
  /** Called once by `serve` after the server listens. */
  start?(deps: AgentDeps): void | Promise<void>;
  /** Called on shutdown. */
  stop?(): void | Promise<void>;
}
