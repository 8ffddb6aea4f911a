import type { AgentModule } from "../module";

/** Placeholder: filled in by the health feature. */
export const healthModule: AgentModule = {
  name: "health",
  routes() {},
};
