import { RecoveryList, RecoveryReport, RecoveryStarted, StartRecoveryRequest } from "../../lib/contracts/agent-recovery";
import { reply } from "../http/router";
import type { AgentModule } from "../module";
import { checkFileOverHttp } from "../host/http-files";

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
        if (body.path) await checkFileOverHttp(deps.config, body.path);
        const { id, recoveryId } = (await ladder()).startRecoveryJob(deps, body);
        return reply(202, { jobId: id, recoveryId });
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
      handler: async ({ params }) => (await store()).loadReport(deps.config, params.id),
    });
  },
};
