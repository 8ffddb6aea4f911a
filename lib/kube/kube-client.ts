import "server-only";
import {
  CoreV1Api,
  Observable,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  type ConfigurationOptions,
  type KubeConfig,
  type ObservableMiddleware,
  type V1Node,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
  type V1Pod,
  type V1PodDisruptionBudget,
} from "@kubernetes/client-node";
import type { ClusterInfo } from "../contracts/nodes";
import { logger } from "../log";
import { Deadline, isKubeError, translateKubeError, type CallContext, type KubeError } from "./errors";
import type { ExecCredentials } from "./exec-credential";
import { loadKubeConfig } from "./kube-config";

export type { V1Node, V1Pod, V1PodDisruptionBudget, V1PersistentVolume, V1PersistentVolumeClaim };

export interface KubeClientOptions {
  /** Time limit of each call, credential plugin run and request together (default 10 s). */
  timeoutMs?: number;
  /** The kubeconfig users' exec credential plugins (told when the API server answers 401; named when a call times out waiting for one). */
  credentials?: ExecCredentials | null;
}

type Options = (extra?: ConfigurationOptions<ObservableMiddleware>) => ConfigurationOptions<ObservableMiddleware>;

export type EvictionResult = { outcome: "evicted" } | { outcome: "gone" } | { outcome: "blocked"; message: string; pdbs: string[] };

const log = logger("kube");

/**
 * The only door to the Kubernetes API (over @kubernetes/client-node 1.x): just the calls Lifeboat
 * needs. Every method rejects with KubeError (status + cluster, a sentence to show) — never with
 * the client's own exception, whose text includes response headers.
 */
export class KubeClient {
  readonly cluster: ClusterInfo;
  private readonly core: CoreV1Api;
  private readonly policy: PolicyV1Api;
  private readonly timeoutMs: number;
  private readonly credentials: ExecCredentials | null;

  constructor(kc: KubeConfig, cluster: ClusterInfo, opts: KubeClientOptions = {}) {
    this.cluster = cluster;
    this.core = kc.makeApiClient(CoreV1Api);
    this.policy = kc.makeApiClient(PolicyV1Api);
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.credentials = opts.credentials ?? null;
  }

  /** A client for the configured cluster (see loadKubeConfig). Throws KubeError `not_configured`. */
  static fromKubeconfig(kubeconfigEnv: string | undefined, opts: KubeClientOptions = {}): KubeClient {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const { kc, cluster, credentials } = loadKubeConfig(kubeconfigEnv, { execTimeoutMs: timeoutMs });
    return new KubeClient(kc, cluster, { ...opts, timeoutMs, credentials });
  }

  /**
   * Runs one API call within the client's time limit. The limit covers all of it: client-node
   * authenticates (runs an exec credential plugin) before any middleware, so a request timeout alone
   * let a plugin that never returns hang the call forever. At the limit the request is aborted and
   * the call rejects with `Deadline` (saying which credential plugin it was waiting for, if any).
   */
  private async withDeadline<T>(fn: (options: Options) => Promise<T>): Promise<T> {
    const abort = new AbortController();
    const signal: ObservableMiddleware = {
      pre: (ctx) => {
        ctx.setSignal(abort.signal);
        return new Observable(Promise.resolve(ctx));
      },
      post: (res) => new Observable(Promise.resolve(res)),
    };
    const options: Options = (extra) => ({ ...extra, middleware: [...(extra?.middleware ?? []), signal], middlewareMergeStrategy: "append" });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const work = fn(options);
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const waitingFor = this.credentials?.pending() ?? null;
        abort.abort();
        reject(new Deadline(waitingFor));
      }, this.timeoutMs);
    });
    try {
      return await Promise.race([work, deadline]);
    } catch (err) {
      // The API server refused the credential: a plugin's cached one is run for anew next time.
      if ((err as { code?: unknown }).code === 401) this.credentials?.invalidate();
      throw err;
    } finally {
      clearTimeout(timer);
      work.catch(() => undefined); // a call abandoned at its deadline may still reject later
    }
  }

  private async call<T>(ctx: Omit<CallContext, "cluster" | "server" | "timeoutMs">, fn: (options: Options) => Promise<T>): Promise<T> {
    // No object is named "." or ".." (Kubernetes refuses both) or "": in the URL they are dot segments
    // or nothing, so `DELETE /api/v1/nodes/.` would reach the API server as `DELETE /api/v1/nodes`,
    // every node. Answered as the API server answers a name it does not have, and never sent.
    if ([ctx.name, ctx.namespace].some((n) => n === "" || n === "." || n === "..")) throw this.translate({ code: 404 }, ctx);
    try {
      return await this.withDeadline(fn);
    } catch (err) {
      throw this.translate(err, ctx);
    }
  }

  private translate(err: unknown, ctx: Omit<CallContext, "cluster" | "server" | "timeoutMs">): KubeError {
    const e = translateKubeError(err, { ...ctx, cluster: this.cluster.name, server: this.cluster.server, timeoutMs: this.timeoutMs });
    log.warn(
      { verb: ctx.verb, resource: ctx.resource, name: ctx.name, namespace: ctx.namespace, status: e.upstreamStatus, code: e.code },
      "kubernetes call failed",
    );
    return e;
  }

  listNodes(): Promise<V1Node[]> {
    return this.call({ verb: "list", resource: "nodes" }, async (o) => (await this.core.listNode({}, o())).items);
  }

  /** Rejects with KubeError `not_found` when there is no such node. */
  readNode(name: string): Promise<V1Node> {
    return this.call({ verb: "get", resource: "nodes", name }, (o) => this.core.readNode({ name }, o()));
  }

  /** Pods of every namespace, optionally only those bound to one node (`spec.nodeName=`). */
  listPods(opts: { nodeName?: string } = {}): Promise<V1Pod[]> {
    const fieldSelector = opts.nodeName ? `spec.nodeName=${opts.nodeName}` : undefined;
    return this.call({ verb: "list", resource: "pods" }, async (o) => (await this.core.listPodForAllNamespaces({ fieldSelector }, o())).items);
  }

  /** The pod, or null when it no longer exists. */
  async readPod(namespace: string, name: string): Promise<V1Pod | null> {
    try {
      return await this.call({ verb: "get", resource: "pods", name, namespace }, (o) => this.core.readNamespacedPod({ name, namespace }, o()));
    } catch (e) {
      if (isKubeError(e, "not_found")) return null;
      throw e;
    }
  }

  listPdbs(): Promise<V1PodDisruptionBudget[]> {
    return this.call(
      { verb: "list", resource: "poddisruptionbudgets" },
      async (o) => (await this.policy.listPodDisruptionBudgetForAllNamespaces({}, o())).items,
    );
  }

  listPersistentVolumes(): Promise<V1PersistentVolume[]> {
    return this.call({ verb: "list", resource: "persistentvolumes" }, async (o) => (await this.core.listPersistentVolume({}, o())).items);
  }

  listPersistentVolumeClaims(): Promise<V1PersistentVolumeClaim[]> {
    return this.call(
      { verb: "list", resource: "persistentvolumeclaims" },
      async (o) => (await this.core.listPersistentVolumeClaimForAllNamespaces({}, o())).items,
    );
  }

  /** Marks the node unschedulable, as `kubectl cordon` does (strategic merge patch). */
  cordon(name: string): Promise<V1Node> {
    return this.patchNode(name, { spec: { unschedulable: true } });
  }

  /** Makes the node schedulable again, as `kubectl uncordon` does. */
  uncordon(name: string): Promise<V1Node> {
    return this.patchNode(name, { spec: { unschedulable: null } });
  }

  private patchNode(name: string, body: object): Promise<V1Node> {
    return this.call({ verb: "patch", resource: "nodes", name }, (o) =>
      this.core.patchNode({ name, body }, o(setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch))),
    );
  }

  /** Deletes the node object (its pods are garbage-collected by the cluster). */
  async deleteNode(name: string): Promise<void> {
    await this.call({ verb: "delete", resource: "nodes", name }, (o) => this.core.deleteNode({ name }, o()));
  }

  /**
   * Asks the Eviction API to evict a pod. A 429 (a PodDisruptionBudget would be violated) resolves
   * as `blocked` with the server's reason; a 404 as `gone`. Other failures reject with KubeError.
   */
  async evictPod(namespace: string, name: string): Promise<EvictionResult> {
    try {
      await this.withDeadline((o) =>
        this.core.createNamespacedPodEviction({ name, namespace, body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name, namespace } } }, o()),
      );
      return { outcome: "evicted" };
    } catch (err) {
      const e = err as { code?: unknown; body?: unknown };
      if (e.code === 429) {
        const status = parseStatus(e.body);
        const causes = status?.details?.causes ?? [];
        const pdbs = causes.map((c) => /disruption budget (\S+)/.exec(c.message ?? "")?.[1]).filter((x): x is string => Boolean(x));
        const reason = [status?.message, ...causes.map((c) => c.message)].filter(Boolean).join(" ");
        return { outcome: "blocked", message: reason || "The eviction was refused (429 Too Many Requests).", pdbs };
      }
      if (e.code === 404) return { outcome: "gone" };
      throw this.translate(err, { verb: "create", resource: "pods/eviction", name, namespace });
    }
  }
}

interface StatusBody {
  message?: string;
  details?: { causes?: { reason?: string; message?: string }[] };
}
function parseStatus(body: unknown): StatusBody | undefined {
  if (typeof body === "string") {
    try {
      return JSON.parse(body) as StatusBody;
    } catch {
      return undefined;
    }
  }
  return body as StatusBody | undefined;
}
