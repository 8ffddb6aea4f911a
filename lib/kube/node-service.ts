import "server-only";
import type { Db } from "../db/database";
import { audit } from "../db/database";
import { NodeSummary, type NodeActionResult, type NodeDetail, type NodesResponse } from "../contracts/nodes";
import { z } from "zod";
import type { NodeContext } from "./context";
import { isKubeError } from "./errors";
import type { KubeClient, V1PersistentVolume, V1PersistentVolumeClaim } from "./kube-client";
import { nodeSummary, podSummary, volumeIndex } from "./views";

/**
 * The node pages' server side: the node list (with the last good copy kept in the dashboard's
 * SQLite so an unreachable cluster still shows what was last seen, and how old it is), one node's
 * detail, and cordon / uncordon / delete — each audited.
 */

const Snapshot = z.object({ fetchedAt: z.string(), nodes: z.array(NodeSummary) });
const snapshotKey = (server: string) => `nodes.snapshot:${server}`;

function readSnapshot(db: Db, server: string) {
  const row = db.prepare("SELECT value FROM kv WHERE key = ?").get(snapshotKey(server)) as { value: string } | undefined;
  if (!row) return undefined;
  const parsed = Snapshot.safeParse(JSON.parse(row.value));
  return parsed.success ? parsed.data : undefined;
}

function writeSnapshot(db: Db, server: string, snap: z.infer<typeof Snapshot>): void {
  db.prepare("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(snapshotKey(server), JSON.stringify(snap));
}

/** Every node with its summary, sorted by name. Rejects with KubeError. */
export async function listNodeSummaries(client: KubeClient): Promise<NodeSummary[]> {
  const [nodes, pods] = await Promise.all([client.listNodes(), client.listPods()]);
  const byNode = new Map<string, typeof pods>();
  for (const p of pods) if (p.spec?.nodeName) byNode.set(p.spec.nodeName, [...(byNode.get(p.spec.nodeName) ?? []), p]);
  return nodes.map((n) => nodeSummary(n, byNode.get(n.metadata?.name ?? "") ?? [])).sort((a, b) => a.name.localeCompare(b.name));
}

/** GET /api/nodes. Never rejects for Kubernetes trouble: the error travels in the answer with the cached nodes. */
export async function fetchNodes(ctx: NodeContext): Promise<NodesResponse> {
  let client: KubeClient;
  try {
    client = ctx.client();
  } catch (e) {
    if (isKubeError(e)) return { cluster: null, nodes: [], fetchedAt: null, live: false, error: e.toInfo() };
    throw e;
  }
  try {
    const nodes = await listNodeSummaries(client);
    const fetchedAt = new Date().toISOString();
    writeSnapshot(ctx.db, client.cluster.server, { fetchedAt, nodes });
    return { cluster: client.cluster, nodes, fetchedAt, live: true, error: null };
  } catch (e) {
    if (!isKubeError(e)) throw e;
    const cached = readSnapshot(ctx.db, client.cluster.server);
    return { cluster: client.cluster, nodes: cached?.nodes ?? [], fetchedAt: cached?.fetchedAt ?? null, live: false, error: e.toInfo() };
  }
}

/** One node with its labels and pods (node-local volumes flagged when volumes can be listed). Rejects with KubeError. */
export async function fetchNodeDetail(ctx: NodeContext, name: string): Promise<NodeDetail> {
  const client = ctx.client();
  const soft = <T>(p: Promise<T[]>) => p.catch((e) => (isKubeError(e, "forbidden") ? ([] as T[]) : Promise.reject(e)));
  const [node, pods, pvcs, pvs] = await Promise.all([
    client.readNode(name),
    client.listPods({ nodeName: name }),
    soft<V1PersistentVolumeClaim>(client.listPersistentVolumeClaims()),
    soft<V1PersistentVolume>(client.listPersistentVolumes()),
  ]);
  const index = volumeIndex(pvcs, pvs);
  return {
    node: nodeSummary(node, pods),
    labels: { ...(node.metadata?.labels ?? {}) },
    pods: pods.map((p) => podSummary(p, index)).sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`)),
  };
}

type Via = { via: string; runId?: string };

async function audited<T>(db: Db, action: string, node: string, via: Via, fn: () => Promise<T>): Promise<T> {
  try {
    const out = await fn();
    audit(db, action, node, "ok", via);
    return out;
  } catch (e) {
    audit(db, action, node, "failed", { ...via, error: isKubeError(e) ? e.kubeCode : "internal", message: (e as Error).message });
    throw e;
  }
}

/** Cordons a node (audited). Rejects with KubeError. */
export async function cordonNode(ctx: NodeContext, name: string, via: Via = { via: "nodes page" }): Promise<NodeActionResult> {
  await audited(ctx.db, "node.cordon", name, via, () => ctx.client().cordon(name));
  return {
    node: name,
    action: "cordon",
    message: `${name} is cordoned: no new pods will be scheduled on it. Pods already there keep running.`,
    kubectl: `kubectl cordon ${name}`,
  };
}

/** Uncordons a node (audited). Rejects with KubeError. */
export async function uncordonNode(ctx: NodeContext, name: string, via: Via = { via: "nodes page" }): Promise<NodeActionResult> {
  await audited(ctx.db, "node.uncordon", name, via, () => ctx.client().uncordon(name));
  return { node: name, action: "uncordon", message: `${name} is schedulable again.`, kubectl: `kubectl uncordon ${name}` };
}

/** Deletes a node object (audited). Rejects with KubeError. */
export async function deleteNodeObject(ctx: NodeContext, name: string, via: Via = { via: "nodes page" }): Promise<NodeActionResult> {
  await audited(ctx.db, "node.delete", name, via, () => ctx.client().deleteNode(name));
  return {
    node: name,
    action: "delete",
    message: `The node object ${name} is deleted. If the machine still runs k3s, it registers again when its agent restarts.`,
    kubectl: `kubectl delete node ${name}`,
  };
}
