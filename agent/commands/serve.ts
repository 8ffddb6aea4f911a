import type { Command } from "./command";
import { readArgs } from "./args";
import { buildAgentApp } from "../server";
import { agentModules } from "../modules";
import { loadAgentTls } from "../tls/certificate";
import { formatListeningLine } from "../../lib/contracts/agent-cli";

export const serveCommand: Command = {
  name: "serve",
  summary: "Run the agent's HTTPS service (and the backup schedule).",
  usage: "lifeboat-agent serve",
  options: {},
  async run(args, deps, io) {
    if (!readArgs(serveCommand, args, io)) return 2;
    const cfg = deps.config;
    if (!cfg.agentToken) {
      io.err("LIFEBOAT_AGENT_TOKEN (or LIFEBOAT_AGENT_TOKEN_FILE) must be set for `serve`: every endpoint but /livez requires it.");
      return 2;
    }
    // HTTPS unless the operator chose otherwise: the bearer token must not cross the network in clear.
    const tls = cfg.insecureHttp ? null : loadAgentTls(cfg);
    const app = buildAgentApp(deps, agentModules, { tls: tls ?? undefined });
    const { url } = await app.listen(cfg.port, cfg.host, true);
    const everywhere = /\/\/(0\.0\.0\.0|\[::\]):/.test(url) ? " (every address of this host)" : "";
    deps.log.info({ url, serverDir: cfg.serverDir, schedule: cfg.schedule, tls: tls ? tls.source : "off", fingerprint: tls?.fingerprint }, "agent listening");
    io.err(`Lifeboat agent listening on ${url}${everywhere}.`);
    if (tls) {
      io.err(
        `TLS certificate (${tls.source === "self-signed" ? `self-signed${tls.created ? ", made now" : ""}` : "LIFEBOAT_AGENT_TLS_CERT"}: ${tls.certFile})`,
      );
      io.err(`  SHA-256 fingerprint: ${tls.fingerprint}`);
      io.err(`  On the dashboard: LIFEBOAT_AGENT_FINGERPRINT=${tls.fingerprint}`);
    } else io.err("WARNING: LIFEBOAT_AGENT_INSECURE_HTTP=true: plain HTTP, so the bearer token crosses the network in clear. Unset it to answer HTTPS.");
    // Machine-readable line for launchers and tests that start the agent on port 0.
    io.out(formatListeningLine(url, tls?.fingerprint));
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
