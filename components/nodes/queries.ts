import { queryOptions } from "@tanstack/react-query";
import { z } from "zod";
import { apiFetch, jsonBody } from "@/lib/client/api-fetch";
import {
  CurrentWorkerMigration,
  DrainJob,
  NodeActionResult,
  NodeDetail,
  NodesResponse,
  RevealedToken,
  WorkerMigrationView,
  type DrainOptionsInput,
  type WorkerMigrationAction,
} from "@/lib/contracts/nodes";

/** The browser's side of the node API: typed fetches and react-query options (keys general → specific). */

export const nodeKeys = {
  all: ["nodes"] as const,
  list: () => [...nodeKeys.all, "list"] as const,
  detail: (name: string) => [...nodeKeys.all, "detail", name] as const,
  drain: (name: string) => [...nodeKeys.all, "drain", name] as const,
};

export const migrationKeys = {
  all: ["worker-migration"] as const,
  current: () => [...migrationKeys.all, "current"] as const,
  run: (id: string) => [...migrationKeys.all, "run", id] as const,
};

/** How often the node pages refresh. */
export const NODES_REFRESH_MS = 5000;

export const nodesQuery = () =>
  queryOptions({ queryKey: nodeKeys.list(), queryFn: ({ signal }) => apiFetch("/api/nodes", NodesResponse, { signal }), refetchInterval: NODES_REFRESH_MS });

export const nodeDetailQuery = (name: string) =>
  queryOptions({
    queryKey: nodeKeys.detail(name),
    queryFn: ({ signal }) => apiFetch(`/api/nodes/${encodeURIComponent(name)}`, NodeDetail, { signal }),
    refetchInterval: NODES_REFRESH_MS,
    retry: false,
  });

const DrainAnswer = z.object({ job: DrainJob.nullable() });
export const nodeDrainQuery = (name: string) =>
  queryOptions({
    queryKey: nodeKeys.drain(name),
    queryFn: ({ signal }) => apiFetch(`/api/nodes/${encodeURIComponent(name)}/drain`, DrainAnswer, { signal }),
    refetchInterval: (q) => (q.state.data?.job?.state === "running" ? 1000 : false),
  });

export const nodeActions = {
  cordon: (name: string) => apiFetch(`/api/nodes/${encodeURIComponent(name)}/cordon`, NodeActionResult, jsonBody()),
  uncordon: (name: string) => apiFetch(`/api/nodes/${encodeURIComponent(name)}/uncordon`, NodeActionResult, jsonBody()),
  remove: (name: string, confirm: string) => apiFetch(`/api/nodes/${encodeURIComponent(name)}`, NodeActionResult, jsonBody({ confirm }, "DELETE")),
  drain: (name: string, options: DrainOptionsInput) => apiFetch(`/api/nodes/${encodeURIComponent(name)}/drain`, DrainAnswer, jsonBody(options)),
  stopDrain: (name: string) => apiFetch(`/api/nodes/${encodeURIComponent(name)}/drain`, DrainAnswer, jsonBody(undefined, "DELETE")),
};

export const currentMigrationQuery = () =>
  queryOptions({ queryKey: migrationKeys.current(), queryFn: ({ signal }) => apiFetch("/api/worker-migrations/current", CurrentWorkerMigration, { signal }) });

/** A run, polled while something is happening server-side (a drain, waiting for the new node). */
export const migrationRunQuery = (id: string) =>
  queryOptions({
    queryKey: migrationKeys.run(id),
    queryFn: ({ signal }) => apiFetch(`/api/worker-migrations/${encodeURIComponent(id)}`, WorkerMigrationView, { signal }),
    refetchInterval: (q) => {
      const v = q.state.data;
      if (!v || v.status !== "active") return false;
      if (v.drain?.state === "running") return 1000;
      if (v.step === "wait") return 2000;
      return false;
    },
  });

export const migrationActions = {
  start: (node: string) => apiFetch("/api/worker-migrations", WorkerMigrationView, jsonBody({ node })),
  act: (id: string, action: WorkerMigrationAction) => apiFetch(`/api/worker-migrations/${encodeURIComponent(id)}`, WorkerMigrationView, jsonBody(action)),
  revealToken: (id: string) => apiFetch(`/api/worker-migrations/${encodeURIComponent(id)}/token`, RevealedToken, jsonBody()),
  /** The demo cluster only: a new node registers, the run waits for it. */
  demoJoin: (id: string) => apiFetch(`/api/worker-migrations/${encodeURIComponent(id)}/demo-join`, WorkerMigrationView, jsonBody()),
};
