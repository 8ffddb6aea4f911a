import type { AgentModule } from "./module";
import { coreModule } from "./routes/core";
import { backupsModule } from "./routes/backups";
import { healthModule } from "./routes/health";
import { recoveriesModule } from "./routes/recoveries";
import { restoresModule } from "./routes/restores";
import { metricsModule } from "./routes/metrics";
import { continuousModule } from "./routes/continuous";

/** Every feature of the agent, in registration order. */
export const agentModules: AgentModule[] = [coreModule, backupsModule, healthModule, recoveriesModule, restoresModule, metricsModule, continuousModule];
