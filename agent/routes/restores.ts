import { ConfirmRestoreRequest, RestoreList, RestoreRecord, RestoreStarted, StartRestoreRequest } from "../../lib/contracts/agent-restore";
import { reply } from "../http/router";
import { checkFileOverHttp } from "../host/http-files";
import type { AgentDeps, AgentModule } from "../module";

const runner = () => import("../restore/runner");

/**
 * How often a running service looks for restores another process left unfinished: a CLI restore or
 * rollback killed half-way (Ctrl-C, a dropped SSH session) leaves k3s stopped and files moved, and
 * nothing else would finish it until the service restarted.
 */
const RESUME_CHECK_MS = 15_000;
let resumeTimer: NodeJS.Timeout | null = null;
let resuming: Promise<unknown> | null = null;

function resumeInBackground(deps: AgentDeps): void {
  if (resuming) return;
  const log = deps.log.child({ component: "restore" });
  // The journals say whether anything was interrupted; the runner (staging, zstd, OpenPGP) is loaded
  // only then, not into every idle agent.
  resuming = import("../restore/journal")
    .then(({ listJournals }) => listJournals(deps.config))
    .then((journals) =>
      journals.some((j) => j.status === "running" || j.status === "rolling-back") ? runner().then(({ resumeInterrupted }) => resumeInterrupted(deps)) : [],
    )
    .then(
      (done) => {
        for (const r of done) log.warn({ restoreId: r.id, status: r.status }, "interrupted restore handled");
      },
      (err) => log.error({ err: (err as Error).message }, "could not resume an interrupted restore"),
    )
    .finally(() => (resuming = null));
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
        if (body.source.kind === "file") await checkFileOverHttp(deps.config, body.source.path);
        const { startRestore } = await runner();
        const { restoreId, jobId } = await startRestore(deps, body);
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
        return getRestore(deps, params.id);
      },
    });
    router.add({
      method: "POST",
      path: "/restores/:id/confirm",
      body: ConfirmRestoreRequest,
      response: RestoreStarted,
      handler: async ({ params, body }) => {
        const { confirmRestore } = await runner();
        const { restoreId, jobId } = confirmRestore(deps, params.id, body);
        return reply(202, { restoreId, jobId });
      },
    });
    router.add({
      method: "POST",
      path: "/restores/:id/cancel",
      response: RestoreRecord,
      handler: async ({ params }) => {
        const { cancelRestore } = await runner();
        return cancelRestore(deps, params.id);
      },
    });
    router.add({
      method: "POST",
      path: "/restores/:id/rollback",
      response: RestoreStarted,
      handler: async ({ params }) => {
        const { startRollback } = await runner();
        const { restoreId, jobId } = startRollback(deps, params.id);
        return reply(202, { restoreId, jobId });
      },
    });
    router.add({
      method: "POST",
      path: "/restores/:id/done",
      response: RestoreRecord,
      handler: async ({ params }) => {
        const { markRestoreDone } = await runner();
        return markRestoreDone(deps, params.id);
      },
    });
  },
  start(deps) {
    resumeInBackground(deps);
    // A journal still "running" whose process is gone (resumeInterrupted skips those a live process holds).
    resumeTimer = setInterval(() => {
      if (!deps.jobs.runningIn("datastore")) resumeInBackground(deps);
    }, RESUME_CHECK_MS);
    resumeTimer.unref();
  },
  async stop() {
    if (resumeTimer) clearInterval(resumeTimer);
    resumeTimer = null;
    await resuming;
  },
};
