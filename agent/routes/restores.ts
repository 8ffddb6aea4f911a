import { ConfirmRestoreRequest, RestoreList, RestoreRecord, RestoreStarted, StartRestoreRequest } from "../../lib/contracts/agent-restore";
import { AgentConfigError } from "../config";
import { HttpError, reply } from "../http/router";
import { JobRunningError } from "../jobs/job-registry";
import type { AgentDeps, AgentModule } from "../module";

const runner = () => import("../restore/runner");
const lock = () => import("../restore/lock");

/** Turns the errors a caller can cause into 4xx answers with the sentence to show. */
async function mapErrors<T>(fn: () => Promise<T> | T): Promise<T> {
  const { RestoreStateError } = await runner();
  const { DatastoreBusyError } = await lock();
  try {
    return await fn();
  } catch (err) {
    if (err instanceof JobRunningError) throw new HttpError(409, "job_running", err.message, { jobId: err.jobId });
    if (err instanceof DatastoreBusyError) throw new HttpError(409, "datastore_busy", err.message);
    if (err instanceof RestoreStateError) throw new HttpError(/^There is no restore/.test(err.message) ? 404 : 409, /^There is no restore/.test(err.message) ? "not_found" : "restore_state", err.message);
    if (err instanceof AgentConfigError) throw new HttpError(503, "not_configured", err.message);
    throw err;
  }
}

function resumeInBackground(deps: AgentDeps): void {
  const log = deps.log.child({ component: "restore" });
  // The journals say whether anything was interrupted; the runner (staging, zstd, OpenPGP) is loaded
  // only then, not into every idle agent.
  void import("../restore/journal")
    .then(({ listJournals }) => listJournals(deps.config))
    .then((journals) => (journals.some((j) => j.status === "running" || j.status === "rolling-back") ? runner().then(({ resumeInterrupted }) => resumeInterrupted(deps)) : []))
    .then(
      (done) => {
        for (const r of done) log.warn({ restoreId: r.id, status: r.status }, "interrupted restore handled");
      },
      (err) => log.error({ err: (err as Error).message }, "could not resume an interrupted restore"),
    );
}

/** The restore endpoints (lib/contracts/agent-restore.ts); on start, finishes restores a dead agent left behind. */
export const restoresModule: AgentModule = {
  name: "restores",
  routes(router, deps) {
    router.add({
      method: "POST",
      path: "/restores",
      body: StartRestoreRequest,
      response: RestoreStarted,
      handler: async ({ body }) => {
        const { startRestore } = await runner();
        const { restoreId, jobId } = await mapErrors(() => startRestore(deps, body));
        return reply(202, { restoreId, jobId });
      },
    });
    router.add({
      method: "GET",
      path: "/restores",
      response: RestoreList,
      handler: async () => ({ restores: await (await runner()).listRestores(deps) }),
    });
    router.add({
      method: "GET",
      path: "/restores/:id",
      response: RestoreRecord,
      handler: async ({ params }) => {
        const { getRestore } = await runner();
        return mapErrors(() => getRestore(deps, params.id));
      },
    });
    router.add({
      method: "POST",
      path: "/restores/:id/confirm",
      body: ConfirmRestoreRequest,
      response: RestoreStarted,
      handler: async ({ params, body }) => {
        const { confirmRestore } = await runner();
        const { restoreId, jobId } = await mapErrors(() => confirmRestore(deps, params.id, body));
        return reply(202, { restoreId, jobId });
      },
    });
    router.add({
      method: "POST",
      path: "/restores/:id/cancel",
      response: RestoreRecord,
      handler: async ({ params }) => {
        const { cancelRestore } = await runner();
        return mapErrors(() => cancelRestore(deps, params.id));
      },
    });
    router.add({
      method: "POST",
      path: "/restores/:id/rollback",
      response: RestoreStarted,
      handler: async ({ params }) => {
        const { startRollback } = await runner();
        const { restoreId, jobId } = await mapErrors(() => startRollback(deps, params.id));
        return reply(202, { restoreId, jobId });
      },
    });
    router.add({
      method: "POST",
      path: "/restores/:id/done",
      response: RestoreRecord,
      handler: async ({ params }) => {
        const { markRestoreDone } = await runner();
        return mapErrors(() => markRestoreDone(deps, params.id));
      },
    });
  },
  start(deps) {
    resumeInBackground(deps);
  },
};
