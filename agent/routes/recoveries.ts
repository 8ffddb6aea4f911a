import { RecoveryList, RecoveryReport, RecoveryStarted, StartRecoveryRequest } from "../../lib/contracts/agent-recovery";
import { HttpError, reply } from "../http/router";
import { JobRunningError } from "../jobs/job-registry";
import type { AgentModule } from "../module";

const ladder = () => import("../recovery/ladder");
const store = () => import("../recovery/store");

/** POST /recoveries (the recovery ladder as a job), GET /recoveries, GET /recoveries/:id. */
export const recoveriesModule: AgentModule = {
  name: "recoveries",
  routes(router, deps) {
    router.add({
      method: "POST",
      path: "/recoveries",
      body: StartRecoveryRequest,
      response: RecoveryStarted,
      handler: async ({ body }) => {
        const { startRecoveryJob } = await ladder();
        try {
          const { id, recoveryId } = startRecoveryJob(deps, body);
          return reply(202, { jobId: id, recoveryId });
        } catch (err) {
          if (err instanceof JobRunningError) throw new HttpError(409, "job_running", err.message, { jobId: err.jobId });
          throw err;
        }
      },
    });
    router.add({
      method: "GET",
      path: "/recoveries",
      response: RecoveryList,
      handler: async () => ({ recoveries: await (await store()).listReports(deps.config) }),
    });
    router.add({
      method: "GET",
      path: "/recoveries/:id",
      response: RecoveryReport,
      handler: async ({ params }) => {
        const s = await store();
        try {
          return s.loadReport(deps.config, params.id);
        } catch (err) {
          if (err instanceof s.RecoveryNotFoundError) throw new HttpError(404, "not_found", err.message);
          throw err;
        }
      },
    });
  },
};
