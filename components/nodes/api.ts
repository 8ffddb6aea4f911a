import { queryOptions } from "@tanstack/react-query";
import { z } from "zod";
import { ApiErrorBody } from "@/lib/contracts/api-error";
import {
  AuditResponse,
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

/** A failed call to the dashboard's API, with its sentence. */
export class DashboardApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "DashboardApiError";
  }
}

export async function apiJson<T>(url: string, schema: z.ZodType<T>, init: RequestInit = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, { cache: "no-store", ...init, headers: { ...(init.body ? { "content-type": "application/json" } : {}), ...init.headers } });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new DashboardApiError(0, "offline", "The dashboard server did not answer. Is it still running?");
  }
  const json: unknown = await res.json().catch(() => undefined);
  if (!res.ok) {
    const body = ApiErrorBody.safeParse(json);
    throw new DashboardApiError(res.status, body.success ? body.data.code : "error", body.success ? body.data.message : `The dashboard answered ${res.status}.`);
  }
  return schema.parse(json);
}

const post = (body?: unknown): RequestInit => ({ method: "POST", body: body === undefined ? undefined : JSON.stringify(body) });

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

export const auditKeys = {
  all: ["audit"] as const,
  list: (prefix: string) => [...auditKeys.all, prefix] as const,
};

/** How often the node pages refresh. */
export const NODES_REFRESH_MS = 5000;

export const nodesQuery = () =>
  queryOptions({ queryKey: nodeKeys.list(), queryFn: ({ signal }) => apiJson("/api/nodes", NodesResponse, { signal }), refetchInterval: NODES_REFRESH_MS });

export const nodeDetailQuery = (name: string) =>
  queryOptions({ queryKey: nodeKeys.detail(name), queryFn: ({ signal }) => apiJson(`/api/nodes/${encodeURIComponent(name)}`, NodeDetail, { signal }), refetchInterval: NODES_REFRESH_MS, retry: false });

const DrainAnswer = z.object({ job: DrainJob.nullable() });
export const nodeDrainQuery = (name: string) =>
  queryOptions({
    queryKey: nodeKeys.drain(name),
    queryFn: ({ signal }) => apiJson(`/api/nodes/${encodeURIComponent(name)}/drain`, DrainAnswer, { signal }),
    refetchInterval: (q) => (q.state.data?.job?.state === "running" ? 1000 : false),
  });

export const nodeActions = {
  cordon: (name: string) => apiJson(`/api/nodes/${encodeURIComponent(name)}/cordon`, NodeActionResult, post()),
  uncordon: (name: string) => apiJson(`/api/nodes/${encodeURIComponent(name)}/uncordon`, NodeActionResult, post()),
  remove: (name: string, confirm: string) => apiJson(`/api/nodes/${encodeURIComponent(name)}`, NodeActionResult, { method: "DELETE", body: JSON.stringify({ confirm }) }),
  drain: (name: string, options: DrainOptionsInput) => apiJson(`/api/nodes/${encodeURIComponent(name)}/drain`, DrainAnswer, post(options)),
  stopDrain: (name: string) => apiJson(`/api/nodes/${encodeURIComponent(name)}/drain`, DrainAnswer, { method: "DELETE" }),
};

export const currentMigrationQuery = () =>
  queryOptions({ queryKey: migrationKeys.current(), queryFn: ({ signal }) => apiJson("/api/worker-migrations/current", CurrentWorkerMigration, { signal }) });

/** A run, polled while something is happening server-side (a drain, waiting for the new node). */
export const migrationRunQuery = (id: string) =>
  queryOptions({
    queryKey: migrationKeys.run(id),
    queryFn: ({ signal }) => apiJson(`/api/worker-migrations/${encodeURIComponent(id)}`, WorkerMigrationView, { signal }),
    refetchInterval: (q) => {
      const v = q.state.data;
      if (!v || v.status !== "active") return false;
      if (v.drain?.state === "running") return 1000;
      if (v.step === "wait") return 2000;
      return false;
    },
  });

export const migrationActions = {
  start: (node: string) => apiJson("/api/worker-migrations", WorkerMigrationView, post({ node })),
  act: (id: string, action: WorkerMigrationAction) => apiJson(`/api/worker-migrations/${encodeURIComponent(id)}`, WorkerMigrationView, post(action)),
  revealToken: (id: string) => apiJson(`/api/worker-migrations/${encodeURIComponent(id)}/token`, RevealedToken, post()),
};

export const auditQuery = (prefix: string) =>
  queryOptions({ queryKey: auditKeys.list(prefix), queryFn: ({ signal }) => apiJson(`/api/audit?limit=300${prefix ? `&prefix=${encodeURIComponent(prefix)}` : ""}`, AuditResponse, { signal }), refetchInterval: 10_000 });
