import type { Command } from "./command";
import { buildAgentApp } from "../server";
import { formatListeningLine } from "../../lib/contracts/agent-cli";

export const serveCommand: Command = {
  name: "serve",
  summary: "Run the agent's HTTP service (and the backup schedule).",
  usage: "lifeboat-agent serve",
  async run(_args, deps, io) {
    if (!deps.config.agentToken) {
      io.err("LIFEBOAT_AGENT_TOKEN (or LIFEBOAT_AGENT_TOKEN_FILE) must be set for `serve`: every endpoint but /livez requires it.");
      return 2;
    }
    const app = buildAgentApp(deps);
    const { url } = await app.listen(deps.config.port, deps.config.host, true);
    deps.log.info({ url, serverDir: deps.config.serverDir, schedule: deps.config.schedule }, "agent listening");
    // Machine-readable line for launchers and tests that start the agent on port 0.
    io.out(formatListeningLine(url));
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
    });
    deps.log.info("shutting down");
    await app.close();
    return 0;
  },
};
