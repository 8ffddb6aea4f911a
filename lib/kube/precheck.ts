import "server-only";
import type { PrecheckPdb, PrecheckReport } from "../contracts/nodes";
import { formatResources } from "./format";
import { isKubeError } from "./errors";
import type { KubeClient, V1Node, V1PersistentVolume, V1PersistentVolumeClaim, V1Pod, V1PodDisruptionBudget } from "./kube-client";
import { planDrain } from "./drain";
import { matchesSelector, type LabelSelector } from "./selectors";
import { isFinished, nodeSummary, podSummary, volumeIndex } from "./views";

/**
 * Before a worker is drained: can the other nodes take its pods (by requested CPU/memory and pod
 * slots)? Which pods keep data on the node (hostPath, local volumes, emptyDir)? Which budgets will
 * make the drain wait? Pure over API objects; `runPrecheck` gathers them.
 */

export interface PrecheckInput {
  node: string;
  nodes: V1Node[];
  pods: V1Pod[];
  pdbs: V1PodDisruptionBudget[];
  pvcs: V1PersistentVolumeClaim[];
  pvs: V1PersistentVolume[];
  notChecked?: string[];
  now?: Date;
}

type Room = { cpuMillis: number; memoryBytes: number; pods: number };

const tolerates = (pod: V1Pod, taint: { key: string; value?: string; effect: string }) =>
  (pod.spec?.tolerations ?? []).some((t) => {
    const keyOk = t.operator === "Exists" ? !t.key || t.key === taint.key : t.key === taint.key && (t.value ?? "") === (taint.value ?? "");
    return keyOk && (!t.effect || t.effect === taint.effect);
  });

export function buildPrecheck(input: PrecheckInput): PrecheckReport {
  const { node } = input;
  const index = volumeIndex(input.pvcs, input.pvs);
  const onNode = input.pods.filter((p) => p.spec?.nodeName === node);
  const summaries = onNode.map((p) => podSummary(p, index)).sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  const byKey = new Map(summaries.map((s) => [`${s.namespace}/${s.name}`, s]));

  // Pods a controller will recreate elsewhere once evicted.
  const moving = onNode.filter((p) => {
    const s = byKey.get(`${p.metadata?.namespace}/${p.metadata?.name}`)!;
    return s.kind === "workload" && !s.terminating;
  });

  // Room on the nodes that can take pods.
  const podsByNode = new Map<string, V1Pod[]>();
  for (const p of input.pods) if (p.spec?.nodeName) podsByNode.set(p.spec.nodeName, [...(podsByNode.get(p.spec.nodeName) ?? []), p]);
  const targets = input.nodes
    .filter((n) => n.metadata?.name !== node)
    .map((n) => ({ n, s: nodeSummary(n, podsByNode.get(n.metadata?.name ?? "") ?? []) }))
    .filter(({ s }) => s.ready === "Ready" && !s.unschedulable);
  const room = new Map<string, Room>(
    targets.map(({ s }) => [
      s.name,
      {
        cpuMillis: s.allocatable.cpuMillis - s.requested.cpuMillis,
        memoryBytes: s.allocatable.memoryBytes - s.requested.memoryBytes,
        pods: s.allocatable.pods - s.podCount,
      },
    ]),
  );
  const freeTotal = [...room.values()].reduce(
    (a, b) => ({
      cpuMillis: a.cpuMillis + Math.max(0, b.cpuMillis),
      memoryBytes: a.memoryBytes + Math.max(0, b.memoryBytes),
      pods: a.pods + Math.max(0, b.pods),
    }),
    { cpuMillis: 0, memoryBytes: 0, pods: 0 },
  );
  const targetList = targets.map(({ s }) => ({ node: s.name, free: { ...room.get(s.name)! } }));

  // First-fit, biggest first, honouring taints and node-local volumes: a rough scheduler.
  const needed = { cpuMillis: 0, memoryBytes: 0, pods: moving.length };
  const unplaceable: PrecheckReport["capacity"]["unplaceable"] = [];
  const noRoom: string[] = [];
  const sorted = [...moving].sort((a, b) => {
    const ra = byKey.get(`${a.metadata?.namespace}/${a.metadata?.name}`)!.requests;
    const rb = byKey.get(`${b.metadata?.namespace}/${b.metadata?.name}`)!.requests;
    return rb.memoryBytes - ra.memoryBytes || rb.cpuMillis - ra.cpuMillis;
  });
  for (const pod of sorted) {
    const s = byKey.get(`${pod.metadata?.namespace}/${pod.metadata?.name}`)!;
    needed.cpuMillis += s.requests.cpuMillis;
    needed.memoryBytes += s.requests.memoryBytes;
    const pinned = s.nodeLocalVolumes.find((v) => v.kind === "localPersistentVolume");
    if (pinned) {
      unplaceable.push({
        namespace: s.namespace,
        name: s.name,
        reason: `Its volume stays on ${node} (${pinned.detail.split(":")[0]}), so it cannot start on another node.`,
      });
      continue;
    }
    const fit = targets.find(({ n, s: t }) => {
      const r = room.get(t.name)!;
      const taintsOk = (n.spec?.taints ?? []).filter((x) => x.effect === "NoSchedule" || x.effect === "NoExecute").every((x) => tolerates(pod, x));
      return taintsOk && r.pods >= 1 && r.cpuMillis >= s.requests.cpuMillis && r.memoryBytes >= s.requests.memoryBytes;
    });
    if (!fit) {
      noRoom.push(s.name);
      unplaceable.push({
        namespace: s.namespace,
        name: s.name,
        reason: targets.length
          ? `No other node has room for its requests (${formatResources(s.requests)}) or accepts it (taints).`
          : "No other node is Ready and schedulable.",
      });
      continue;
    }
    const r = room.get(fit.s.name)!;
    r.cpuMillis -= s.requests.cpuMillis;
    r.memoryBytes -= s.requests.memoryBytes;
    r.pods -= 1;
  }

  const nodeLocal = summaries
    .filter((s) => s.nodeLocalVolumes.length && s.kind !== "daemonset" && s.kind !== "mirror")
    .map((s) => ({ namespace: s.namespace, name: s.name, volumes: s.nodeLocalVolumes }));

  const pdbs: PrecheckPdb[] = [];
  for (const b of input.pdbs) {
    const covered = onNode.filter(
      (p) =>
        p.metadata?.namespace === b.metadata?.namespace && !isFinished(p) && matchesSelector(b.spec?.selector as LabelSelector | undefined, p.metadata?.labels),
    );
    if (!covered.length) continue;
    const allowed = b.status?.disruptionsAllowed ?? 0;
    const wouldBlock = covered.length > allowed;
    const names = covered.map((p) => p.metadata?.name ?? "");
    pdbs.push({
      namespace: b.metadata?.namespace ?? "",
      name: b.metadata?.name ?? "",
      disruptionsAllowed: allowed,
      currentHealthy: b.status?.currentHealthy ?? 0,
      desiredHealthy: b.status?.desiredHealthy ?? 0,
      podsOnNode: names,
      wouldBlock,
      message: wouldBlock
        ? `PodDisruptionBudget ${b.metadata?.name} allows ${allowed} disruption${allowed === 1 ? "" : "s"} now and ${covered.length} of its pods run on ${node}: the drain will wait until replacements are Ready elsewhere${allowed === 0 ? " — and if none can start, it will time out" : ""}.`
        : `PodDisruptionBudget ${b.metadata?.name} allows ${allowed} disruption${allowed === 1 ? "" : "s"}; ${covered.length} of its pods run on ${node}.`,
    });
  }

  const choices = planDrain(onNode, { deleteEmptyDirData: false, force: false }).needsChoice;

  const warnings: string[] = [];
  if (!targets.length) warnings.push(`No other node is Ready and schedulable: the pods on ${node} would have nowhere to go.`);
  else if (noRoom.length) warnings.push(`${noRoom.length} pod${noRoom.length === 1 ? "" : "s"} would not find room on the other nodes: ${noRoom.join(", ")}.`);
  const localData = nodeLocal.filter((n) => n.volumes.some((v) => v.kind !== "emptyDir"));
  if (localData.length)
    warnings.push(
      `${localData.length} pod${localData.length === 1 ? " keeps" : "s keep"} data on ${node}'s own disk (${localData.map((n) => n.name).join(", ")}): move it to network storage first, or it stays behind with the old node.`,
    );
  const emptyDirs = nodeLocal.filter((n) => n.volumes.some((v) => v.kind === "emptyDir"));
  if (emptyDirs.length)
    warnings.push(
      `${emptyDirs.length} pod${emptyDirs.length === 1 ? " uses" : "s use"} emptyDir (${emptyDirs.map((n) => n.name).join(", ")}): that data is lost when evicted.`,
    );
  const unmanaged = choices.filter((c) => c.reason === "unmanaged");
  if (unmanaged.length)
    warnings.push(
      `${unmanaged.length} pod${unmanaged.length === 1 ? " has" : "s have"} no controller (${unmanaged.map((c) => c.name).join(", ")}): nothing will recreate ${unmanaged.length === 1 ? "it" : "them"} after the drain.`,
    );
  for (const b of pdbs.filter((p) => p.wouldBlock)) warnings.push(b.message);

  return {
    node,
    checkedAt: (input.now ?? new Date()).toISOString(),
    pods: summaries,
    capacity: { fits: targets.length > 0 && unplaceable.length === 0, needed, free: freeTotal, targets: targetList, unplaceable },
    nodeLocal,
    pdbs,
    choices,
    warnings,
    notChecked: input.notChecked ?? [],
  };
}

/** Gathers what the pre-check needs from the API. Rejects with KubeError (e.g. not_found for the node). */
export async function runPrecheck(client: KubeClient, node: string): Promise<PrecheckReport> {
  await client.readNode(node);
  const notChecked: string[] = [];
  const optional = async <T>(what: string, fn: () => Promise<T[]>): Promise<T[]> => {
    try {
      return await fn();
    } catch (e) {
      if (isKubeError(e, "forbidden", "not_found")) {
        notChecked.push(`${what}: ${e.message}`);
        return [];
      }
      throw e;
    }
  };
  const [nodes, pods, pdbs, pvcs, pvs] = await Promise.all([
    client.listNodes(),
    client.listPods(),
    optional("PodDisruptionBudgets", () => client.listPdbs()),
    optional("PersistentVolumeClaims (local volumes)", () => client.listPersistentVolumeClaims()),
    optional("PersistentVolumes (local volumes)", () => client.listPersistentVolumes()),
  ]);
  return buildPrecheck({ node, nodes, pods, pdbs, pvcs, pvs, notChecked });
}
