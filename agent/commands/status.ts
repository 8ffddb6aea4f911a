import type { Command } from "./command";
import { readArgs } from "./args";
import { currentFingerprint } from "../tls/certificate";
import { AGENT_VERSION } from "../version";

/**
 * `lifeboat-agent status`: what the dashboard needs to reach this agent safely — where `serve`
 * listens, whether it speaks HTTPS, and the certificate's SHA-256 fingerprint to pin. Reads only;
 * makes nothing (the self-signed certificate is made by `serve`'s first start).
 */
export const statusCommand: Command = {
  name: "status",
  summary: "Show how the dashboard reaches this agent: address, TLS and the certificate's fingerprint.",
  usage: "lifeboat-agent status [--json]",
  options: { flags: ["--json"] },
  async run(args, deps, io) {
    const a = readArgs(statusCommand, args, io);
    if (!a) return 2;
    const cfg = deps.config;
    const current = cfg.insecureHttp ? null : currentFingerprint(cfg);
    const scheme = cfg.insecureHttp ? "http" : "https";
    const status = {
      version: AGENT_VERSION,
      listen: `${scheme}://${cfg.host.includes(":") ? `[${cfg.host}]` : cfg.host}:${cfg.port}`,
      tls: cfg.insecureHttp ? "off" : cfg.tlsCertFile ? "LIFEBOAT_AGENT_TLS_CERT" : "self-signed",
      fingerprint: current?.fingerprint ?? null,
      certificate: current?.certFile ?? null,
      tokenConfigured: Boolean(cfg.agentToken),
      restoreFileDirs: cfg.restoreFileDirs,
      serverDir: cfg.serverDir,
      stateDir: cfg.stateDir,
    };
    if (a.has("--json")) {
      io.out(JSON.stringify(status, null, 2));
      return 0;
    }
    io.out(`lifeboat-agent ${status.version}`);
    io.out(`  serve listens on   ${status.listen}${/\/\/(0\.0\.0\.0|\[::\]):/.test(status.listen) ? " (every address of this host)" : ""}`);
    if (cfg.insecureHttp) io.out("  TLS                off (LIFEBOAT_AGENT_INSECURE_HTTP=true): the token crosses the network in clear");
    else if (current) {
      io.out(`  TLS certificate    ${current.certFile} (${status.tls})`);
      io.out(`  SHA-256 fingerprint ${current.fingerprint}`);
      io.out("");
      io.out(`  On the dashboard: LIFEBOAT_AGENT_URL=https://<this host>:${cfg.port} LIFEBOAT_AGENT_FINGERPRINT=${current.fingerprint}`);
    } else io.out("  TLS certificate    not made yet: `lifeboat-agent serve` makes it at its first start; run status again then.");
    io.out(`  token              ${cfg.agentToken ? "configured" : "NOT SET (serve needs LIFEBOAT_AGENT_TOKEN or LIFEBOAT_AGENT_TOKEN_FILE)"}`);
    return 0;
  },
};
