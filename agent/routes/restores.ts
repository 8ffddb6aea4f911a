import type { AgentModule } from "../module";

/** Placeholder: filled in by the restores feature. */
export const restoresModule: AgentModule = {
  name: "restores",
  routes() {},
};
