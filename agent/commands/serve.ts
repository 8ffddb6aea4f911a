import type { Command, CommandIo } from "./command";
import type { AgentDeps } from "../module";
import { readArgs } from "./args";
import { buildAgentApp } from "../server";
import { agentModules } from "../modules";
import { loadAgentTls } from "../tls/certificate";
import { formatListeningLine } from "../../lib/contracts/agent-cli";
import { takeLockFile } from "../../lib/storage/pid-record";
import { mkdirSync } from "node:fs";
import path from "node:path";

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
    // One service per state directory: two would both ship the log from one position and spool, and
    // both run the schedules (an operator's `serve` by hand on another port beside systemd's).
    let lock: ReturnType<typeof takeLockFile>;
    try {
      mkdirSync(cfg.stateDir, { recursive: true, mode: 0o700 });
      lock = takeLockFile(path.join(cfg.stateDir, "serve.lock"));
    } catch (err) {
      // A state directory the agent cannot write still serves: /health and /metrics say what is wrong with it.
      deps.log.warn({ stateDir: cfg.stateDir, err: (err as Error).message }, "could not take the state directory's serve lock");
      lock = { release: () => {} };
    }
    if ("holder" in lock) {
      io.err(
        `Another lifeboat-agent serve (pid ${lock.holder}) already runs with the state directory ${cfg.stateDir}: two would both ship the log and run the schedules. Stop it first (systemctl stop lifeboat-agent), or give this one its own LIFEBOAT_STATE_DIR.`,
      );
      return 1;
    }
    try {
      return await serveLocked(deps, io);
    } finally {
      lock.release();
    }
  },
};

/** The service itself, once it holds the state directory's serve lock: listens until SIGTERM or SIGINT. */
async function serveLocked(deps: AgentDeps, io: CommandIo): Promise<number> {
  const cfg = deps.config;
  // HTTPS unless the operator chose otherwise: the bearer token must not cross the network in clear.
  const tls = cfg.insecureHttp ? null : loadAgentTls(cfg);
  const app = buildAgentApp(deps, agentModules, { tls: tls ?? undefined });
  const { url } = await app.listen(cfg.port, cfg.host, true);
  const everywhere = /\/\/(0\.0\.0\.0|\[::\]):/.test(url) ? " (every address of this host)" : "";
  deps.log.info({ url, serverDir: cfg.serverDir, schedule: cfg.schedule, tls: tls ? tls.source : "off", fingerprint: tls?.fingerprint }, "agent listening");
  io.err(`Lifeboat agent listening on ${url}${everywhere}.`);
  if (tls) {
    io.err(`TLS certificate (${tls.source === "self-signed" ? `self-signed${tls.created ? ", made now" : ""}` : "LIFEBOAT_AGENT_TLS_CERT"}: ${tls.certFile})`);
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
}
