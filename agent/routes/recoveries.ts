import type { AgentModule } from "../module";

/** Placeholder: filled in by the recoveries feature. */
export const recoveriesModule: AgentModule = {
  name: "recoveries",
  routes() {},
};
