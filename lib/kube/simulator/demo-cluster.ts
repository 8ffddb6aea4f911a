import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { SimulatedCluster, kubeTime, type KObj } from "./cluster";
import { startKubeApiServer, type KubeApiServer } from "./api-server";
import type { ApiRequest, Answer } from "./api-handler";
import { readKinePods, type KinePod } from "./kine-pods";
import { K3S_VERSION, seedDemoNodes, seedDemoWorkload } from "./demo-workload";

/**
 * The demo cluster `npm start` runs without KUBECONFIG: the simulated API server over HTTPS with the
 * demo's three Raspberry Pis (demo-workload.ts), tied to the demo's simulated k3s
 * (agent/demo/simulated-k3s.ts, which the demo agent starts and stops around a restore):
 *
 * - k3s stopped → the API stops answering (connection refused), as a real k3s server's does;
 * - k3s started → the API answers again, serving the pods the kine database now holds (namespace by
 *   namespace: what the demo writer keeps under /registry/pods/), and the nodes turn Ready one by
 *   one as their kubelets reconnect (NotReady — "Kubelet stopped posting node status" — until then).
 *   So a restore of an older backup brings back the pods of that time.
 * - while it runs, pods the writer adds or deletes in kine appear and disappear within seconds.
 *
 * It also answers one call no real cluster has, for the worker-migration wizard's clearly labelled
 * demo action: POST /lifeboat-demo/v1/join makes a new Raspberry Pi register (NotReady, then Ready).
 */

import { DEMO_JOIN_PATH } from "../../contracts/nodes";
import { parsePidRecord, recordedProcessAlive } from "../../storage/pid-record";

export { DEMO_JOIN_PATH };

export interface DemoClusterOptions {
  /** Where the kubeconfig and certificates go (e.g. <data dir>/demo-cluster). */
  dir: string;
  /** The demo's k3s server directory (<data dir>/demo/k3s/server): its db/state.db and the simulated k3s's pid file. */
  serverDir: string;
  port?: number;
  /** How often the k3s state and kine are looked at (default 500 ms / 5 s). */
  watchMs?: number;
  syncMs?: number;
  /** After k3s starts, the first node is Ready after `readyAfterMs`, the next ones `staggerMs` apart (default 6 s, 3 s). */
  readyAfterMs?: number;
  staggerMs?: number;
  /** How long a new node stays NotReady after it registers (default 6 s). */
  joinReadyAfterMs?: number;
}

export interface DemoCluster {
  api: KubeApiServer;
  kubeconfigPath: string;
  /** Whether the simulated k3s ran at the last look. */
  k3sRunning(): boolean;
  /** Looks at k3s and kine now (the timers do it by themselves). */
  check(): Promise<void>;
  stop(): Promise<void>;
}

/** Whether the demo's simulated k3s runs: its pid file (<server dir>/../simulated-k3s.pid) names a process that still runs. Never throws. */
export function simulatedK3sRunning(serverDir: string): boolean {
  const pidFile = path.join(path.dirname(path.resolve(serverDir)), "simulated-k3s.pid");
  try {
    // Its own process, not whatever has its pid now (the file outlives a reboot): lib/storage/pid-record.ts.
    const rec = parsePidRecord(readFileSync(pidFile, "utf8"));
    return rec !== null && recordedProcessAlive(rec);
  } catch {
    return false;
  }
}

// The demo writer writes about four revisions a second: enough to give kine's pods plausible ages.
const REVISIONS_PER_SECOND = 4;

/** The demo writer's pods are Deployment pods (app-3-7d9f-1a → ReplicaSet app-3-7d9f). */
function podSeed(p: KinePod, revision: number, node: string | null) {
  const rs = p.name.replace(/-[^-]+$/, "");
  return {
    name: p.name,
    namespace: p.namespace,
    node,
    owner: { kind: "ReplicaSet" as const, name: rs },
    labels: { app: rs.replace(/-[^-]+$/, ""), "pod-template-hash": rs.split("-").at(-1) ?? "" },
    requests: { cpu: "100m", memory: "128Mi" },
    image: `ghcr.io/example/${rs.replace(/-[^-]+$/, "")}:1.4.2`,
    createdAt: kubeTime(new Date(Date.now() - Math.max(0, revision - p.createRevision) * (1000 / REVISIONS_PER_SECOND))),
  };
}

/** Starts the demo cluster (see the module comment). Rejects when the port is taken or openssl is missing. */
export async function startDemoCluster(opts: DemoClusterOptions): Promise<DemoCluster> {
  const cluster = new SimulatedCluster({ terminationGraceMs: 3000, controllers: { replacementDelayMs: 1000, readyDelayMs: 6000 }, podGcDelayMs: 2000 });
  seedDemoNodes(cluster);
  seedDemoWorkload(cluster);
  const dbPath = path.join(opts.serverDir, "db", "state.db");
  /** The namespaces whose pods kine decides (those the writer has pods in). */
  const kineNamespaces = new Set<string>();
  /** Pods taken from kine so far: a pod evicted since is not brought back until k3s restarts. */
  let fromKine = new Set<string>();

  /** Makes the kine-backed namespaces hold exactly kine's pods (as after an API server restart), spread over the Ready workers. */
  const resync = () => {
    const { revision, pods } = readKinePods(dbPath);
    for (const ns of new Set([...kineNamespaces, ...pods.map((p) => p.namespace)])) {
      kineNamespaces.add(ns);
      for (const pod of [...cluster.pods.values()]) if (pod.metadata.namespace === ns) cluster.removePodNow(ns, pod.metadata.name);
    }
    const workers = [...cluster.nodes.values()].filter((n) => !n.metadata.labels?.["node-role.kubernetes.io/control-plane"] && !n.spec.unschedulable);
    pods.forEach((p, i) => cluster.addPod(podSeed(p, revision, workers.length ? workers[i % workers.length].metadata.name : null)));
    cluster.schedulePending();
    fromKine = new Set(pods.map((p) => `${p.namespace}/${p.name}`));
  };

  /** Applies what kine changed since the last look: new pods are scheduled, deleted ones go. */
  const follow = () => {
    const { revision, pods } = readKinePods(dbPath);
    const now = new Set(pods.map((p) => `${p.namespace}/${p.name}`));
    for (const k of fromKine) {
      if (now.has(k)) continue;
      const [ns, name] = k.split("/");
      cluster.removePodNow(ns, name);
    }
    for (const p of pods) if (!fromKine.has(`${p.namespace}/${p.name}`)) cluster.addPod(podSeed(p, revision, null));
    cluster.schedulePending();
    fromKine = now;
  };

  let readyGeneration = 0;
  /** The kubelets reconnect one by one after the server is back. */
  const nodesComeBack = () => {
    const generation = ++readyGeneration;
    const names = [...cluster.nodes.keys()];
    for (const n of names) cluster.setNodeReady(n, "unknown");
    names.forEach((n, i) =>
      cluster.later((opts.readyAfterMs ?? 6000) + i * (opts.staggerMs ?? 3000), () => {
        if (generation === readyGeneration && running) cluster.setNodeReady(n, true);
      }),
    );
  };

  const joinNode = (req: ApiRequest): Answer | null => {
    if (req.url.pathname !== DEMO_JOIN_PATH) return null;
    if (req.method !== "POST") return { status: 405, body: { kind: "Status", apiVersion: "v1", status: "Failure", code: 405, reason: "MethodNotAllowed" } };
    let n = 4;
    while (cluster.nodes.has(`pi-${n}`)) n++;
    const name = `pi-${n}`;
    const node: KObj = cluster.registerNode(
      { name, cpu: "4", memory: "8388608Ki", arch: "arm64", kubeletVersion: K3S_VERSION, internalIP: `192.168.1.${10 + n}` },
      opts.joinReadyAfterMs ?? 6000,
    );
    return { status: 201, body: node };
  };

  const api = await startKubeApiServer({
    dir: opts.dir,
    port: opts.port,
    cluster,
    keepRequests: 0,
    extraRoutes: joinNode,
    contextName: "lifeboat-demo",
    user: "system:serviceaccount:lifeboat:dashboard",
  });

  let running = true;
  let checking: Promise<void> | null = null;
  const check = async () => {
    const now = simulatedK3sRunning(opts.serverDir);
    if (now && !running) {
      running = true;
      if (existsSync(dbPath)) {
        try {
          resync();
        } catch {
          // k3s runs but its database is not readable yet: the next follow() catches up.
        }
      }
      await api.resume();
      nodesComeBack();
    } else if (!now && running) {
      running = false;
      await api.pause();
    } else if (now) {
      try {
        follow();
      } catch {
        // a busy or swapped database: try again at the next look
      }
    }
  };
  const checkOnce = () => (checking ??= check().finally(() => (checking = null)));

  // At start: the pods kine holds now; the API answers only while k3s runs.
  try {
    if (existsSync(dbPath)) resync();
  } catch {
    // no readable database yet: the workload alone
  }
  if (!simulatedK3sRunning(opts.serverDir)) {
    running = false;
    await api.pause();
  }
  const watch = setInterval(() => {
    const k3s = simulatedK3sRunning(opts.serverDir);
    if (k3s !== running) void checkOnce();
  }, opts.watchMs ?? 500);
  const sync = setInterval(() => void checkOnce(), opts.syncMs ?? 5000);
  watch.unref();
  sync.unref();

  return {
    api,
    kubeconfigPath: api.kubeconfigPath,
    k3sRunning: () => running,
    check: checkOnce,
    stop: async () => {
      clearInterval(watch);
      clearInterval(sync);
      await api.stop();
    },
  };
}
