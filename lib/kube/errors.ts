import "server-only";
import { DomainError, isDomainError, type ErrorCode } from "../contracts/errors";
import type { KubeErrorCode, KubeErrorInfo } from "../contracts/nodes";
import { UNTRUSTED_CERT_CODES } from "../net/tls-errors";
import { ExecPluginError } from "./exec-credential";

/**
 * A failed Kubernetes API call, translated at the boundary into something a person can act on: a
 * DomainError with code `kube_<kubeCode>` (so its status follows from ERROR_STATUS) and the
 * cluster, verb and resource sent beside it (headlamp style). `upstreamStatus` is what the API
 * server answered (0: no answer); `toInfo()` is the form the node pages carry in their answers.
 */
export class KubeError extends DomainError {
  constructor(
    readonly kubeCode: KubeErrorCode,
    message: string,
    readonly upstreamStatus: number,
    readonly cluster: string | null,
    readonly verb: string | null = null,
    readonly resource: string | null = null,
  ) {
    super(`kube_${kubeCode}` as ErrorCode, message, { details: { cluster, verb, resource } });
  }

  toInfo(): KubeErrorInfo {
    return { code: this.kubeCode, message: this.message, status: this.upstreamStatus, cluster: this.cluster, verb: this.verb, resource: this.resource };
  }
}

/** True for a KubeError from any copy of this module (Next.js bundles one per route), optionally with one of `codes`. */
export function isKubeError(err: unknown, ...codes: KubeErrorCode[]): err is KubeError {
  if (!isDomainError(err) || !err.code.startsWith("kube_")) return false;
  return codes.length === 0 || codes.includes((err as KubeError).kubeCode);
}

/** What the failing call was doing, so the message can say it. */
export interface CallContext {
  verb: string;
  /** Plural resource, subresource after a slash: "nodes", "pods/eviction". */
  resource: string;
  name?: string;
  namespace?: string;
  cluster: string;
  server: string;
  timeoutMs: number;
}

const KIND: Record<string, string> = {
  nodes: "Node",
  pods: "Pod",
  "pods/eviction": "Pod",
  poddisruptionbudgets: "PodDisruptionBudget",
  persistentvolumes: "PersistentVolume",
  persistentvolumeclaims: "PersistentVolumeClaim",
};

const NET_WORDS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  EHOSTUNREACH: "no route to the host",
  ENETUNREACH: "the network is unreachable",
  ENOTFOUND: "the host name does not resolve",
  EAI_AGAIN: "the host name does not resolve (DNS failure)",
  ECONNRESET: "the connection was reset",
  ETIMEDOUT: "the connection timed out",
};

/** A call ran out of its time limit (KubeClient), maybe while waiting for a credential plugin. */
export class Deadline extends Error {
  constructor(readonly waitingFor: { plugin: string; user: string } | null) {
    super("deadline exceeded");
    this.name = "Deadline";
  }
}

/** Network trouble (node-fetch's FetchError carries the system error's code) rather than, say, a file or spawn error. */
const isNetworkCode = (code: string, e: { type?: string; syscall?: unknown }) =>
  code in NET_WORDS ||
  e.type === "system" ||
  /^(E(CONN|HOST|NET|PIPE|ADDR|AI_)|UND_ERR_)/.test(code) ||
  /^(connect|getaddrinfo|read|write)$/.test(String(e.syscall));

/** The server's own words from a Status body, when there is one. */
function statusMessage(body: unknown): string | undefined {
  if (typeof body === "string") {
    try {
      return statusMessage(JSON.parse(body));
    } catch {
      return undefined;
    }
  }
  const m = (body as { message?: unknown } | undefined)?.message;
  return typeof m === "string" ? m : undefined;
}

/**
 * Turns whatever @kubernetes/client-node threw (ApiException with `.code`, a node-fetch FetchError,
 * an AbortError) into a KubeError. Never includes credentials: only codes and the server's message.
 */
export function translateKubeError(err: unknown, ctx: CallContext): KubeError {
  if (isKubeError(err)) return err;
  const e = err as { code?: unknown; body?: unknown; name?: string; type?: string; errno?: unknown; message?: string; syscall?: unknown; path?: unknown };
  const where = `the Kubernetes API of cluster "${ctx.cluster}" (${ctx.server})`;
  const seconds = Math.round(ctx.timeoutMs / 1000);
  if (err instanceof Deadline)
    return new KubeError(
      "unreachable",
      err.waitingFor
        ? `The kubeconfig's credential plugin "${err.waitingFor.plugin}" (user "${err.waitingFor.user}") did not return a credential within ${seconds} s, so ${where} could not be called. Run the plugin by hand to see what it waits for (often the network to its identity provider, or a login).`
        : `Cannot reach ${where}: it did not answer within ${seconds} s. Check that the server is up and reachable from the dashboard.`,
      0,
      ctx.cluster,
    );
  if (err instanceof ExecPluginError) {
    const code = err.kind === "timeout" ? "unreachable" : err.kind === "missing" ? "not_configured" : "unauthorized";
    return new KubeError(code, `${err.message} No call was made to ${where}.`, 0, ctx.cluster);
  }
  const what = ctx.name ? `${KIND[ctx.resource] ?? ctx.resource} "${ctx.name}"` : ctx.resource;
  if (typeof e.code === "number") {
    const serverSays = statusMessage(e.body);
    const tail = serverSays ? ` The API server said: ${serverSays}` : "";
    switch (e.code) {
      case 401:
        return new KubeError(
          "unauthorized",
          `${where} rejected the kubeconfig's credentials (401 Unauthorized). Refresh the token or client certificate in the kubeconfig the dashboard uses (KUBECONFIG).`,
          401,
          ctx.cluster,
        );
      case 403: {
        const scope = ctx.namespace ? ` in namespace "${ctx.namespace}"` : "";
        return new KubeError(
          "forbidden",
          `Forbidden: the dashboard's Kubernetes user may not ${ctx.verb} ${ctx.resource}${scope}. Grant it an RBAC rule allowing the verb "${ctx.verb}" on "${ctx.resource}", or use a kubeconfig with more rights.${tail}`,
          403,
          ctx.cluster,
          ctx.verb,
          ctx.resource,
        );
      }
      case 404:
        return new KubeError(
          "not_found",
          `${what} was not found in cluster "${ctx.cluster}"${ctx.namespace ? ` (namespace "${ctx.namespace}")` : ""}: it may have been deleted. Refresh the page to see the current state.`,
          404,
          ctx.cluster,
        );
      case 409:
        return new KubeError("conflict", `${what} was changed by someone else at the same time (409 Conflict). Try again.${tail}`, 409, ctx.cluster);
      case 422:
      case 400:
        return new KubeError("invalid", `The API server refused to ${ctx.verb} ${what} (${e.code}).${tail}`, e.code, ctx.cluster);
      default:
        return new KubeError(
          "other",
          `${where} answered ${e.code} to "${ctx.verb} ${ctx.resource}".${tail || " Check the API server's health."}`,
          e.code,
          ctx.cluster,
        );
    }
  }
  // node-fetch rejects a timed-out request with type "aborted"; a fetch with a signal, with a DOMException.
  if (e.type === "aborted" || err instanceof DOMException)
    return new KubeError(
      "unreachable",
      `Cannot reach ${where}: it did not answer within ${seconds} s. Check that the server is up and reachable from the dashboard.`,
      0,
      ctx.cluster,
    );
  const sys = typeof e.code === "string" ? e.code : undefined;
  if (sys && UNTRUSTED_CERT_CODES.has(sys))
    return new KubeError(
      "tls",
      `${where} presented a TLS certificate the kubeconfig does not trust (${sys}). Check certificate-authority-data in the kubeconfig, and that the server address matches the certificate.`,
      0,
      ctx.cluster,
    );
  // client-node's own exec authenticator (a user with an `auth-provider` exec) fails to spawn with ENOENT/EACCES.
  if (sys && typeof e.syscall === "string" && e.syscall.startsWith("spawn")) {
    const plugin = typeof e.path === "string" ? e.path : e.syscall.replace(/^spawn ?/, "");
    return new KubeError(
      "not_configured",
      `The kubeconfig's credential plugin "${plugin}" could not be started (${sys === "ENOENT" ? "not found: it is not installed where the dashboard runs" : sys}). Install it, or fix the user's exec command in the kubeconfig. No call was made to ${where}.`,
      0,
      ctx.cluster,
    );
  }
  if (sys && isNetworkCode(sys, e))
    return new KubeError(
      "unreachable",
      `Cannot reach ${where}: ${NET_WORDS[sys] ?? sys}. Check that the k3s server is running and that the kubeconfig points at the right address.`,
      0,
      ctx.cluster,
    );
  return new KubeError(
    "other",
    `The call "${ctx.verb} ${ctx.resource}" to ${where} failed: ${sys ? `${sys}: ` : ""}${e.message ?? String(err)}`,
    0,
    ctx.cluster,
  );
}
