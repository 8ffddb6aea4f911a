import type { V1Node, V1Pod, V1PersistentVolume, V1PersistentVolumeClaim } from "@kubernetes/client-node";
import type { NodeLocalVolume, NodeSummary, PodKind, PodSummary } from "../contracts/nodes";
import { bytes, count, cpuMillis, podRequests } from "./quantity";

/** Pure mappings from API objects to what the dashboard shows. */

/** The client deserialises timestamps into Dates; plain JSON (tests) has strings. */
export const iso = (d: Date | string | undefined | null): string | null => (d ? (d instanceof Date ? d.toISOString() : new Date(d).toISOString()) : null);

const ROLE_PREFIX = "node-role.kubernetes.io/";

export function nodeRoles(labels: Record<string, string> | undefined): string[] {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (k.startsWith(ROLE_PREFIX) && k.length > ROLE_PREFIX.length) roles.add(k.slice(ROLE_PREFIX.length));
    if (k === "kubernetes.io/role" && v) roles.add(v);
  }
  return [...roles].sort();
}

export const isControlPlane = (roles: string[]) => roles.includes("control-plane") || roles.includes("master");

/** A pod whose phase is final no longer holds its requests on the node. */
export const isFinished = (pod: V1Pod) => pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed";

export function podKind(pod: V1Pod): PodKind {
  if (pod.metadata?.annotations?.["kubernetes.io/config.mirror"]) return "mirror";
  const controller = pod.metadata?.ownerReferences?.find((o) => o.controller);
  if (controller?.kind === "DaemonSet") return "daemonset";
  if (isFinished(pod)) return "finished";
  if (!controller) return "unmanaged";
  return "workload";
}

export interface VolumeIndex {
  pvcs: Map<string, V1PersistentVolumeClaim>;
  pvs: Map<string, V1PersistentVolume>;
}

export function volumeIndex(pvcs: V1PersistentVolumeClaim[], pvs: V1PersistentVolume[]): VolumeIndex {
  return {
    pvcs: new Map(pvcs.map((c) => [`${c.metadata?.namespace}/${c.metadata?.name}`, c])),
    pvs: new Map(pvs.map((v) => [v.metadata?.name ?? "", v])),
  };
}

/** The hostname a PersistentVolume is pinned to by its node affinity, if any. */
function pinnedNode(pv: V1PersistentVolume): string | null {
  for (const term of pv.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? [])
    for (const e of term.matchExpressions ?? []) if (e.key === "kubernetes.io/hostname" && e.operator === "In" && e.values?.length) return e.values[0];
  return null;
}

/**
 * Volumes whose data stays on the node: emptyDir, hostPath, and claims bound to `local` or hostPath
 * PersistentVolumes or to volumes pinned to one node (k3s's local-path provisioner makes those).
 */
export function nodeLocalVolumes(pod: V1Pod, index?: VolumeIndex): NodeLocalVolume[] {
  const out: NodeLocalVolume[] = [];
  for (const v of pod.spec?.volumes ?? []) {
    if (v.emptyDir)
      out.push({
        volume: v.name,
        kind: "emptyDir",
        detail: `emptyDir${v.emptyDir.medium === "Memory" ? " (in memory)" : ""}: its data is deleted with the pod`,
      });
    else if (v.hostPath) out.push({ volume: v.name, kind: "hostPath", detail: `hostPath ${v.hostPath.path}: the data stays on this node's disk` });
    else if (v.persistentVolumeClaim && index) {
      const claim = v.persistentVolumeClaim.claimName;
      const pvc = index.pvcs.get(`${pod.metadata?.namespace}/${claim}`);
      const pv = pvc?.spec?.volumeName ? index.pvs.get(pvc.spec.volumeName) : undefined;
      if (!pv) continue;
      const pinned = pinnedNode(pv);
      const how = pv.spec?.local
        ? `local volume ${pv.spec.local.path}`
        : pv.spec?.hostPath
          ? `host path ${pv.spec.hostPath.path}`
          : pinned
            ? "a volume pinned to one node"
            : null;
      if (how)
        out.push({
          volume: v.name,
          kind: "localPersistentVolume",
          detail: `claim ${claim} → PersistentVolume ${pv.metadata?.name} (${pv.spec?.storageClassName ?? "no storage class"}): ${how}${pinned ? ` on ${pinned}` : ""}; the pod cannot run anywhere else`,
        });
    }
  }
  return out;
}

export function podSummary(pod: V1Pod, index?: VolumeIndex): PodSummary {
  const owner = pod.metadata?.ownerReferences?.find((o) => o.controller) ?? null;
  return {
    namespace: pod.metadata?.namespace ?? "",
    name: pod.metadata?.name ?? "",
    uid: pod.metadata?.uid ?? "",
    phase: pod.status?.phase ?? "Unknown",
    ready: (pod.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
    terminating: Boolean(pod.metadata?.deletionTimestamp),
    owner: owner ? { kind: owner.kind, name: owner.name } : null,
    kind: podKind(pod),
    requests: podRequests(pod.spec as Parameters<typeof podRequests>[0]),
    restarts: (pod.status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0),
    createdAt: iso(pod.metadata?.creationTimestamp),
    images: (pod.spec?.containers ?? []).map((c) => c.image ?? ""),
    nodeLocalVolumes: nodeLocalVolumes(pod, index),
  };
}

/** One node for the table: conditions, roles, versions, allocatable vs requested, pod count. */
export function nodeSummary(node: V1Node, podsOnNode: V1Pod[]): NodeSummary {
  const conditions = (node.status?.conditions ?? []).map((c) => ({
    type: c.type,
    status: c.status,
    reason: c.reason ?? null,
    message: c.message ?? null,
    lastTransitionTime: iso(c.lastTransitionTime),
  }));
  const readyCond = conditions.find((c) => c.type === "Ready");
  const roles = nodeRoles(node.metadata?.labels);
  const alloc = (node.status?.allocatable ?? {}) as Record<string, string>;
  const active = podsOnNode.filter((p) => !isFinished(p));
  const requested = active
    .map((p) => podRequests(p.spec as Parameters<typeof podRequests>[0]))
    .reduce((a, b) => ({ cpuMillis: a.cpuMillis + b.cpuMillis, memoryBytes: a.memoryBytes + b.memoryBytes }), { cpuMillis: 0, memoryBytes: 0 });
  const info = node.status?.nodeInfo;
  return {
    name: node.metadata?.name ?? "",
    uid: node.metadata?.uid ?? "",
    ready: readyCond?.status === "True" ? "Ready" : readyCond?.status === "False" ? "NotReady" : "Unknown",
    readySince: readyCond?.lastTransitionTime ?? null,
    pressures: conditions.filter((c) => c.type !== "Ready" && c.status === "True").map((c) => c.type),
    conditions,
    roles,
    controlPlane: isControlPlane(roles),
    kubeletVersion: info?.kubeletVersion ?? "",
    osImage: info?.osImage ?? "",
    architecture: info?.architecture ?? "",
    kernelVersion: info?.kernelVersion ?? "",
    containerRuntime: info?.containerRuntimeVersion ?? "",
    internalIP: node.status?.addresses?.find((a) => a.type === "InternalIP")?.address ?? null,
    createdAt: iso(node.metadata?.creationTimestamp) ?? new Date(0).toISOString(),
    unschedulable: Boolean(node.spec?.unschedulable),
    taints: (node.spec?.taints ?? []).map((t) => ({ key: t.key, value: t.value ?? null, effect: t.effect })),
    allocatable: { cpuMillis: cpuMillis(alloc.cpu), memoryBytes: bytes(alloc.memory), pods: count(alloc.pods) },
    requested,
    podCount: active.length,
  };
}
