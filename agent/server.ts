import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { Router } from "./http/router";
import type { AgentDeps, AgentModule } from "./module";
import { agentModules } from "./modules";

export interface AgentApp {
  server: http.Server | https.Server;
  router: Router;
  deps: AgentDeps;
  /**
   * Listens (port 0 picks a free one) and starts the modules' background work when `startModules`.
   * `url` names the address it really listens on (0.0.0.0 means every address of the host).
   */
  listen(port?: number, host?: string, startModules?: boolean): Promise<{ port: number; url: string }>;
  close(): Promise<void>;
}

export interface AgentServerOptions {
  /** Answer HTTPS with this certificate and key (PEM); plain HTTP without. */
  tls?: { cert: string; key: string };
}

/** Builds the agent's HTTP(S) service from its dependencies; tests run it on port 0 and close it after. */
export function buildAgentApp(deps: AgentDeps, modules: AgentModule[] = agentModules, opts: AgentServerOptions = {}): AgentApp {
  const router = new Router({ token: deps.config.agentToken, log: deps.log, validateResponses: process.env.NODE_ENV !== "production" });
  for (const m of modules) m.routes(router, deps);
  const server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key, minVersion: "TLSv1.2" }) : http.createServer();
  router.bindTo(server);
  server.keepAliveTimeout = 5000;
  let started = false;
  return {
    server,
    router,
    deps,
    async listen(port = deps.config.port, host = deps.config.host, startModules = false) {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          resolve();
        });
      });
      if (startModules) {
        started = true;
        for (const m of modules) await m.start?.(deps);
      }
      const addr = server.address() as AddressInfo;
      const shown = addr.family === "IPv6" || addr.address.includes(":") ? `[${addr.address}]` : addr.address;
      return { port: addr.port, url: `${opts.tls ? "https" : "http"}://${shown}:${addr.port}` };
    },
    async close() {
      if (started) for (const m of modules) await m.stop?.();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
