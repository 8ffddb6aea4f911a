import type { AgentModule } from "../module";

/** Placeholder: filled in by the backups feature. */
export const backupsModule: AgentModule = {
  name: "backups",
  routes() {},
};
