import { z } from "zod";
import { DomainError } from "../../lib/contracts/errors";
import type { AgentModule } from "../module";
import { Job } from "../../lib/contracts/agent-jobs";
import { AGENT_VERSION } from "../version";

/** Liveness (no auth), version, and the job endpoints shared by backups, restores and recoveries. */
export const coreModule: AgentModule = {
  name: "core",
  routes(router, deps) {
    router.add({ method: "GET", path: "/livez", auth: false, handler: () => ({ ok: true }) });
    router.add({
      method: "GET",
      path: "/version",
      handler: () => ({ version: AGENT_VERSION, serverDir: deps.config.serverDir }),
    });
    router.add({
      method: "GET",
      path: "/jobs",
      response: z.object({ jobs: z.array(Job) }),
      handler: () => ({ jobs: deps.jobs.list() }),
    });
    router.add({
      method: "GET",
      path: "/jobs/:id",
      response: Job,
      handler: ({ params }) => {
        const job = deps.jobs.get(params.id);
        if (!job) throw new DomainError("not_found", `No job ${params.id} on this agent (jobs are kept in memory until the agent restarts).`);
        return job;
      },
    });
  },
};
