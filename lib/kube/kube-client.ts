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
import { isKubeError, translateKubeError, type CallContext } from "./errors";
import { loadKubeConfig } from "./kube-config";

export type { V1Node, V1Pod, V1PodDisruptionBudget, V1PersistentVolume, V1PersistentVolumeClaim };

export interface KubeClientOptions {
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
}

/** The answer to an eviction: done, refused by a budget (429), or the pod was already gone. */
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

  constructor(kc: KubeConfig, cluster: ClusterInfo, opts: KubeClientOptions = {}) {
    this.cluster = cluster;
    this.core = kc.makeApiClient(CoreV1Api);
    this.policy = kc.makeApiClient(PolicyV1Api);
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** A client for the configured cluster (see loadKubeConfig). Throws KubeError `not_configured`. */
  static fromKubeconfig(kubeconfigEnv: string | undefined, opts: KubeClientOptions = {}): KubeClient {
    const { kc, cluster } = loadKubeConfig(kubeconfigEnv);
    return new KubeClient(kc, cluster, opts);
  }

  /** Per-call options: a timeout on every request (node-fetch has none by default). */
  private options(extra?: ConfigurationOptions<ObservableMiddleware>): ConfigurationOptions<ObservableMiddleware> {
    const ms = this.timeoutMs;
    const timeout: ObservableMiddleware = {
      pre: (ctx) => {
        ctx.setSignal(AbortSignal.timeout(ms));
        return new Observable(Promise.resolve(ctx));
      },
      post: (res) => new Observable(Promise.resolve(res)),
    };
    return { ...extra, middleware: [...(extra?.middleware ?? []), timeout], middlewareMergeStrategy: "append" };
  }

  private async call<T>(ctx: Omit<CallContext, "cluster" | "server" | "timeoutMs">, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const e = translateKubeError(err, { ...ctx, cluster: this.cluster.name, server: this.cluster.server, timeoutMs: this.timeoutMs });
      log.warn(
        { verb: ctx.verb, resource: ctx.resource, name: ctx.name, namespace: ctx.namespace, status: e.upstreamStatus, code: e.code },
        "kubernetes call failed",
      );
      throw e;
    }
  }

  listNodes(): Promise<V1Node[]> {
    return this.call({ verb: "list", resource: "nodes" }, async () => (await this.core.listNode({}, this.options())).items);
  }

  /** Rejects with KubeError `not_found` when there is no such node. */
  readNode(name: string): Promise<V1Node> {
    return this.call({ verb: "get", resource: "nodes", name }, () => this.core.readNode({ name }, this.options()));
  }

  /** Pods of every namespace, optionally only those bound to one node (`spec.nodeName=`). */
  listPods(opts: { nodeName?: string } = {}): Promise<V1Pod[]> {
    const fieldSelector = opts.nodeName ? `spec.nodeName=${opts.nodeName}` : undefined;
    return this.call({ verb: "list", resource: "pods" }, async () => (await this.core.listPodForAllNamespaces({ fieldSelector }, this.options())).items);
  }

  /** The pod, or null when it no longer exists. */
  async readPod(namespace: string, name: string): Promise<V1Pod | null> {
    try {
      return await this.call({ verb: "get", resource: "pods", name, namespace }, () => this.core.readNamespacedPod({ name, namespace }, this.options()));
    } catch (e) {
      if (isKubeError(e, "not_found")) return null;
      throw e;
    }
  }

  listPdbs(): Promise<V1PodDisruptionBudget[]> {
    return this.call(
      { verb: "list", resource: "poddisruptionbudgets" },
      async () => (await this.policy.listPodDisruptionBudgetForAllNamespaces({}, this.options())).items,
    );
  }

  listPersistentVolumes(): Promise<V1PersistentVolume[]> {
    return this.call({ verb: "list", resource: "persistentvolumes" }, async () => (await this.core.listPersistentVolume({}, this.options())).items);
  }

  listPersistentVolumeClaims(): Promise<V1PersistentVolumeClaim[]> {
    return this.call(
      { verb: "list", resource: "persistentvolumeclaims" },
      async () => (await this.core.listPersistentVolumeClaimForAllNamespaces({}, this.options())).items,
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
    return this.call({ verb: "patch", resource: "nodes", name }, () =>
      this.core.patchNode({ name, body }, this.options(setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch))),
    );
  }

  /** Deletes the node object (its pods are garbage-collected by the cluster). */
  async deleteNode(name: string): Promise<void> {
    await this.call({ verb: "delete", resource: "nodes", name }, () => this.core.deleteNode({ name }, this.options()));
  }

  /**
   * Asks the Eviction API to evict a pod. A 429 (a PodDisruptionBudget would be violated) resolves
   * as `blocked` with the server's reason; a 404 as `gone`. Other failures reject with KubeError.
   */
  async evictPod(namespace: string, name: string): Promise<EvictionResult> {
    try {
      await this.core.createNamespacedPodEviction(
        { name, namespace, body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name, namespace } } },
        this.options(),
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
      throw translateKubeError(err, {
        verb: "create",
        resource: "pods/eviction",
        name,
        namespace,
        cluster: this.cluster.name,
        server: this.cluster.server,
        timeoutMs: this.timeoutMs,
      });
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
