import http from "node:http";
import type { AddressInfo } from "node:net";
import { Router } from "./http/router";
import type { AgentDeps, AgentModule } from "./module";
import { agentModules } from "./modules";

export interface AgentApp {
  server: http.Server;
  router: Router;
  deps: AgentDeps;
  /** Listens (port 0 picks a free one) and starts the modules' background work when `startModules`. */
  listen(port?: number, host?: string, startModules?: boolean): Promise<{ port: number; url: string }>;
  close(): Promise<void>;
}

/** Builds the agent's HTTP service from its dependencies; tests run it on port 0 and close it after. */
export function buildAgentApp(deps: AgentDeps, modules: AgentModule[] = agentModules): AgentApp {
  const router = new Router({ token: deps.config.agentToken, log: deps.log, validateResponses: process.env.NODE_ENV !== "production" });
  for (const m of modules) m.routes(router, deps);
  const server = http.createServer(router.listener);
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
      const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
      return { port: addr.port, url: `http://${shown}:${addr.port}` };
    },
    async close() {
      if (started) for (const m of modules) await m.stop?.();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
