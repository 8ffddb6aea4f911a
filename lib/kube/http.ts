import { ApiError } from "../http/api";
import { DrainConflictError } from "./drain-jobs";
import { KubeError } from "./errors";

/**
 * Runs a route's work and turns Kubernetes failures into the dashboard's API errors: the same
 * sentence, the matching status, and `cluster`, `verb`, `resource` alongside (headlamp style).
 */
export async function kubeRoute<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    rethrowAsApi(e);
  }
}

/** Rethrows KubeError / DrainConflictError as ApiError; anything else unchanged. */
export function rethrowAsApi(e: unknown): never {
  if (e instanceof KubeError) throw new ApiError(e.httpStatus, `kube_${e.code}`, e.message, { cluster: e.cluster, verb: e.verb, resource: e.resource });
  if (e instanceof DrainConflictError) throw new ApiError(409, "drain_running", e.message);
  throw e;
}
