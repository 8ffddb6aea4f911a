import { randomUUID } from "node:crypto";
import { matchesSelector, type LabelSelector } from "../selectors";

/**
 * The state behind the simulated Kubernetes API server (the demo cluster of `npm start`, and the
 * tests' cluster): nodes, pods, PodDisruptionBudgets, volumes, and just enough controller behaviour
 * to make a drain look like it does on a real cluster — evicted pods terminate for a grace period
 * and disappear once their node's kubelet confirms (never while the node is NotReady or Unknown:
 * they stay Terminating until it is back or the node is deleted), ReplicaSet pods get a replacement scheduled on another node, pods of a deleted node
 * are garbage-collected, a registering node becomes Ready later.
 */

// Kubernetes objects are open-ended JSON; the server stores them as such.
export type KObj = { apiVersion?: string; kind?: string; metadata: Meta; spec?: any; status?: any; [k: string]: unknown };
export interface Meta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  creationTimestamp: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }[];
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  finalizers?: string[];
  generation?: number;
  [k: string]: unknown;
}

export interface NodeSeed {
  name: string;
  /** "control-plane" also adds the k3s "master" and "etcd"-less labels; others become node-role labels. */
  roles?: string[];
  ready?: boolean;
  cpu?: string;
  memory?: string;
  pods?: string;
  arch?: string;
  internalIP?: string;
  kubeletVersion?: string;
  osImage?: string;
  createdAt?: string;
  unschedulable?: boolean;
  taints?: { key: string; value?: string; effect: string }[];
  labels?: Record<string, string>;
  pressure?: Partial<Record<"MemoryPressure" | "DiskPressure" | "PIDPressure", boolean>>;
}

export interface PodSeed {
  name: string;
  namespace?: string;
  node?: string | null;
  labels?: Record<string, string>;
  owner?: { kind: "ReplicaSet" | "DaemonSet" | "StatefulSet" | "Job" | "ReplicationController"; name: string };
  requests?: { cpu?: string; memory?: string };
  volumes?: Record<string, unknown>[];
  phase?: "Pending" | "Running" | "Succeeded" | "Failed";
  ready?: boolean;
  /** A static pod's mirror (kubelet-managed): carries the kubernetes.io/config.mirror annotation. */
  mirror?: boolean;
  createdAt?: string;
  image?: string;
  restarts?: number;
  tolerations?: { key?: string; operator?: string; value?: string; effect?: string }[];
  /** metadata.finalizers: a deleted pod stays Terminating while it has any (e.g. a stuck controller's). */
  finalizers?: string[];
}

export interface PdbSeed {
  name: string;
  namespace?: string;
  selector: LabelSelector;
  minAvailable?: number | string;
  maxUnavailable?: number | string;
}

export interface SimulatedClusterOptions {
  /** How long an evicted/deleted pod stays Terminating before it is gone (default 300 ms). */
  terminationGraceMs?: number;
  /** Simulated controllers (ReplicaSet/StatefulSet replacements, DaemonSet pods on new nodes). */
  controllers?: { replacementDelayMs: number; readyDelayMs: number } | false;
  /** Delay before pods bound to a deleted node are garbage-collected (default 200 ms). */
  podGcDelayMs?: number;
  /**
   * How long a pod tolerates its node's not-ready/unreachable NoExecute taint before the taint
   * manager deletes it, unless it says otherwise: the tolerationSeconds of 300 that kube-apiserver's
   * DefaultTolerationSeconds admission gives every pod (default 300 000 ms).
   */
  defaultTolerationMs?: number;
}

const SUFFIX = "bcdfghjklmnpqrstvwxz2456789";
const suffix = (n: number) => Array.from({ length: n }, () => SUFFIX[Math.floor(Math.random() * SUFFIX.length)]).join("");
/** RFC 3339 with second precision, as the API server writes timestamps. */
export const kubeTime = (d: Date = new Date()) => d.toISOString().replace(/\.\d{3}Z$/, "Z");
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** Entries `history` keeps: plenty for a test, bounded for the demo that runs for days. */
const HISTORY_LIMIT = 5000;

export const key = (namespace: string | undefined, name: string) => (namespace ? `${namespace}/${name}` : name);

export class SimulatedCluster {
  private rv = 1000;
  readonly nodes = new Map<string, KObj>();
  readonly pods = new Map<string, KObj>();
  readonly pdbs = new Map<string, KObj>();
  readonly pvs = new Map<string, KObj>();
  readonly pvcs = new Map<string, KObj>();
  readonly namespaces = new Map<string, KObj>();
  /** DaemonSets, created from the first pod that names one as its owner. */
  readonly daemonSets = new Map<string, KObj>();
  /** What happened, in order ("evicted default/web-1", "deleted node pi-2", …): the newest HISTORY_LIMIT entries. */
  readonly history: string[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Pods the node lifecycle controller marked not ready because their node was not (see setNodeReady). */
  private readonly markedNotReady = new Set<string>();
  private readonly opts: Required<SimulatedClusterOptions>;

  constructor(opts: SimulatedClusterOptions = {}) {
    this.opts = { terminationGraceMs: 300, controllers: false, podGcDelayMs: 200, defaultTolerationMs: 300_000, ...opts };
    for (const ns of ["default", "kube-system", "kube-public", "kube-node-lease"]) this.ensureNamespace(ns);
  }

  /** Records what happened (tests read `history`; a long-running demo keeps only the newest entries). */
  note(event: string): void {
    this.history.push(event);
    if (this.history.length > HISTORY_LIMIT) this.history.splice(0, this.history.length - HISTORY_LIMIT);
  }

  nextResourceVersion(): string {
    return String(++this.rv);
  }

  private meta(name: string, namespace: string | undefined, createdAt?: string): Meta {
    return {
      name,
      ...(namespace ? { namespace } : {}),
      uid: randomUUID(),
      resourceVersion: this.nextResourceVersion(),
      creationTimestamp: createdAt ?? kubeTime(),
    };
  }

  /** Runs `fn` after `ms`, unless the cluster is disposed first (controllers, scenarios). */
  later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /** Stops every pending timer (termination, controllers). */
  dispose(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  ensureNamespace(name: string): void {
    if (this.namespaces.has(name)) return;
    this.namespaces.set(name, {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { ...this.meta(name, undefined), labels: { "kubernetes.io/metadata.name": name } },
      spec: { finalizers: ["kubernetes"] },
      status: { phase: "Active" },
    });
  }

  // ---- nodes ------------------------------------------------------------------------------

  addNode(seed: NodeSeed): KObj {
    const roles = seed.roles ?? [];
    const labels: Record<string, string> = {
      "beta.kubernetes.io/arch": seed.arch ?? "arm64",
      "beta.kubernetes.io/instance-type": "k3s",
      "beta.kubernetes.io/os": "linux",
      "kubernetes.io/arch": seed.arch ?? "arm64",
      "kubernetes.io/hostname": seed.name,
      "kubernetes.io/os": "linux",
      "node.kubernetes.io/instance-type": "k3s",
      ...Object.fromEntries(
        roles.flatMap((r) =>
          r === "control-plane"
            ? [
                ["node-role.kubernetes.io/control-plane", "true"],
                ["node-role.kubernetes.io/master", "true"],
              ]
            : [[`node-role.kubernetes.io/${r}`, "true"]],
        ),
      ),
      ...seed.labels,
    };
    const created = seed.createdAt ?? kubeTime();
    const cond = (type: string, status: boolean, reason: string, message: string) => ({
      type,
      status: status ? "True" : "False",
      lastHeartbeatTime: kubeTime(),
      lastTransitionTime: created,
      reason,
      message,
    });
    const p = seed.pressure ?? {};
    const ready = seed.ready ?? true;
    const node: KObj = {
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        ...this.meta(seed.name, undefined, created),
        labels,
        annotations: {
          "k3s.io/hostname": seed.name,
          "k3s.io/internal-ip": seed.internalIP ?? "192.168.1.10",
          "node.alpha.kubernetes.io/ttl": "0",
          "volumes.kubernetes.io/controller-managed-attach-detach": "true",
        },
      },
      spec: {
        podCIDR: "10.42.0.0/24",
        podCIDRs: ["10.42.0.0/24"],
        providerID: `k3s://${seed.name}`,
        ...(seed.unschedulable ? { unschedulable: true } : {}),
        ...(seed.taints?.length ? { taints: seed.taints } : {}),
      },
      status: {
        capacity: { cpu: seed.cpu ?? "4", "ephemeral-storage": "30560236Ki", memory: seed.memory ?? "3882096Ki", pods: seed.pods ?? "110" },
        allocatable: { cpu: seed.cpu ?? "4", "ephemeral-storage": "29729182123", memory: seed.memory ?? "3882096Ki", pods: seed.pods ?? "110" },
        conditions: [
          cond(
            "MemoryPressure",
            !!p.MemoryPressure,
            p.MemoryPressure ? "KubeletHasInsufficientMemory" : "KubeletHasSufficientMemory",
            p.MemoryPressure ? "kubelet has insufficient memory available" : "kubelet has sufficient memory available",
          ),
          cond(
            "DiskPressure",
            !!p.DiskPressure,
            p.DiskPressure ? "KubeletHasDiskPressure" : "KubeletHasNoDiskPressure",
            p.DiskPressure ? "kubelet has disk pressure" : "kubelet has no disk pressure",
          ),
          cond(
            "PIDPressure",
            !!p.PIDPressure,
            p.PIDPressure ? "KubeletHasInsufficientPID" : "KubeletHasSufficientPID",
            p.PIDPressure ? "kubelet has insufficient PID available" : "kubelet has sufficient PID available",
          ),
          ready
            ? cond("Ready", true, "KubeletReady", "kubelet is posting ready status")
            : cond("Ready", false, "KubeletNotReady", "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady"),
        ],
        addresses: [
          { type: "InternalIP", address: seed.internalIP ?? "192.168.1.10" },
          { type: "Hostname", address: seed.name },
        ],
        daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
        nodeInfo: {
          machineID: randomUUID().replace(/-/g, ""),
          systemUUID: randomUUID().replace(/-/g, ""),
          bootID: randomUUID(),
          kernelVersion: "6.6.51+rpt-rpi-v8",
          osImage: seed.osImage ?? "Debian GNU/Linux 12 (bookworm)",
          containerRuntimeVersion: "containerd://1.7.23-k3s2",
          kubeletVersion: seed.kubeletVersion ?? "v1.31.4+k3s1",
          kubeProxyVersion: seed.kubeletVersion ?? "v1.31.4+k3s1",
          operatingSystem: "linux",
          architecture: seed.arch ?? "arm64",
        },
      },
    };
    this.nodes.set(seed.name, node);
    this.syncUnschedulableTaint(node);
    this.reconcile();
    return node;
  }

  /**
   * Registers a new node the way a freshly joined k3s agent does: NotReady at first, Ready after
   * `readyAfterMs` (then DaemonSet pods and pending pods land on it).
   */
  registerNode(seed: NodeSeed, readyAfterMs = 500): KObj {
    const node = this.addNode({ ...seed, ready: false });
    this.note(`registered node ${seed.name}`);
    this.later(readyAfterMs, () => this.setNodeReady(seed.name, true));
    return node;
  }

  /**
   * Sets a node's Ready condition: true (its kubelet posts ready status), false (it posts NotReady),
   * or "unknown" (it stopped posting: the node lifecycle controller's Unknown, as after a control
   * plane restart until each kubelet reconnects), with the taints that controller keeps in step.
   */
  setNodeReady(name: string, ready: boolean | "unknown"): void {
    const node = this.nodes.get(name);
    if (!node) return;
    type Condition = { type: string; status: string; reason: string; message: string; lastTransitionTime: string };
    node.status ??= {};
    const conditions = (node.status.conditions ??= []) as Condition[];
    let c = conditions.find((x) => x.type === "Ready");
    // A patch may have removed it; the kubelet (or the controller) posts it again.
    if (!c) conditions.push((c = { type: "Ready", status: "", reason: "", message: "", lastTransitionTime: "" }));
    const want = ready === true ? "True" : ready === false ? "False" : "Unknown";
    const wasReady = c.status === "True";
    if (c.status !== want) {
      c.status = want;
      c.reason = ready === true ? "KubeletReady" : ready === false ? "KubeletNotReady" : "NodeStatusUnknown";
      c.message =
        ready === true ? "kubelet is posting ready status" : ready === false ? "kubelet stopped posting node status" : "Kubelet stopped posting node status.";
      c.lastTransitionTime = kubeTime();
    }
    // node.kubernetes.io/not-ready or /unreachable, NoSchedule and NoExecute, while not Ready.
    const lifecycle = ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"];
    const taints = ((node.spec.taints ?? []) as { key: string; effect: string }[]).filter((t) => !lifecycle.includes(t.key));
    if (ready !== true) {
      const key = ready === false ? lifecycle[0] : lifecycle[1];
      for (const effect of ["NoSchedule", "NoExecute"]) taints.push({ key, effect, timeAdded: kubeTime() } as never);
    }
    if (taints.length) node.spec.taints = taints;
    else delete node.spec.taints;
    node.metadata.resourceVersion = this.nextResourceVersion();
    this.note(`node ${name} ${want === "True" ? "Ready" : want === "False" ? "NotReady" : "Unknown"}`);
    this.markPodsOfNode(name, ready === true);
    if (wasReady && ready !== true) this.scheduleTaintEviction(name);
    // A kubelet that is back confirms the pods whose grace period ended while it was away.
    if (ready === true)
      for (const [k, pod] of [...this.pods])
        if (pod.spec.nodeName === name && pod.metadata.deletionTimestamp && Date.parse(pod.metadata.deletionTimestamp) <= Date.now())
          this.removeTerminated(k, pod.metadata.uid);
    this.reconcile();
  }

  /**
   * The node lifecycle controller's MarkPodsNotReady: the running pods of a node that is not Ready
   * get Ready=False (so they stop counting as healthy for their PodDisruptionBudgets, and an
   * eviction of one is judged by the IfHealthyBudget rule); a kubelet that is back reports the pods
   * it runs as ready again.
   */
  private markPodsOfNode(name: string, nodeReady: boolean): void {
    for (const pod of this.pods.values()) {
      if (pod.spec.nodeName !== name || pod.metadata.deletionTimestamp || pod.status.phase !== "Running") continue;
      const conditions = (pod.status.conditions ?? []) as { type: string; status: string; lastTransitionTime?: string }[];
      const uid = pod.metadata.uid as string;
      const c = conditions.find((x) => x.type === "Ready");
      if (!c) continue;
      if (!nodeReady && c.status === "True") {
        c.status = "False";
        c.lastTransitionTime = kubeTime();
        this.markedNotReady.add(uid);
      } else if (nodeReady && this.markedNotReady.has(uid)) {
        c.status = "True";
        c.lastTransitionTime = kubeTime();
        this.markedNotReady.delete(uid);
      } else continue;
      pod.metadata.resourceVersion = this.nextResourceVersion();
    }
  }

  /**
   * The taint manager: a node that stopped being Ready has the not-ready or unreachable NoExecute
   * taint, and each of its pods is deleted once its toleration of that taint runs out (its own
   * tolerationSeconds, none for a toleration without it, else defaultTolerationMs). DaemonSet and
   * mirror pods tolerate it for good, as their controllers' tolerations say. A deleted pod then stays
   * Terminating (nobody confirms on that node) and its controller replaces it elsewhere.
   */
  private scheduleTaintEviction(name: string): void {
    const lifecycle = ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"];
    for (const pod of this.pods.values()) {
      if (pod.spec.nodeName !== name || pod.metadata.deletionTimestamp) continue;
      const owner = (pod.metadata.ownerReferences ?? [])[0] as { kind?: string } | undefined;
      if (owner?.kind === "DaemonSet" || owner?.kind === "Node" || pod.metadata.annotations?.["kubernetes.io/config.mirror"]) continue;
      const tolerations = (pod.spec.tolerations ?? []) as { key?: string; operator?: string; effect?: string; tolerationSeconds?: number }[];
      const own = tolerations.find(
        (t) => (!t.effect || t.effect === "NoExecute") && (t.operator === "Exists" ? !t.key || lifecycle.includes(t.key) : lifecycle.includes(t.key ?? "")),
      );
      if (own && own.tolerationSeconds === undefined) continue;
      const after = own ? Math.max(0, own.tolerationSeconds! * 1000) : this.opts.defaultTolerationMs;
      const uid = pod.metadata.uid;
      const ns = pod.metadata.namespace as string;
      const podName = pod.metadata.name as string;
      this.later(after, () => {
        const node = this.nodes.get(name);
        const cur = this.pods.get(key(ns, podName));
        if (!node || isNodeReady(node) || !cur || cur.metadata.uid !== uid || cur.metadata.deletionTimestamp) return;
        this.deletePod(ns, podName, this.opts.terminationGraceMs, "taint manager deleted");
      });
    }
  }

  /** The node lifecycle controller's taint for cordoned nodes, kept in step with spec.unschedulable. */
  syncUnschedulableTaint(node: KObj): void {
    const taints = ((node.spec.taints ?? []) as { key: string; effect: string }[]).filter((t) => t.key !== "node.kubernetes.io/unschedulable");
    if (node.spec.unschedulable) taints.push({ key: "node.kubernetes.io/unschedulable", effect: "NoSchedule", timeAdded: kubeTime() } as never);
    if (taints.length) node.spec.taints = taints;
    else delete node.spec.taints;
  }

  /** Called after any change to a node (PATCH). */
  nodeChanged(node: KObj): void {
    this.syncUnschedulableTaint(node);
    this.note(`node ${node.metadata.name} ${node.spec.unschedulable ? "cordoned" : "schedulable"}`);
    this.reconcile();
  }

  /** Deletes a node object; its pods are garbage-collected shortly after (pod GC controller). */
  deleteNode(name: string): KObj | undefined {
    const node = this.nodes.get(name);
    if (!node) return undefined;
    this.nodes.delete(name);
    this.note(`deleted node ${name}`);
    this.later(this.opts.podGcDelayMs, () => {
      for (const [k, pod] of this.pods) {
        if (pod.spec.nodeName !== name) continue;
        // The pod GC force-deletes (grace 0): finalizers still hold a pod until they are removed.
        if (pod.metadata.finalizers?.length) {
          pod.metadata.deletionTimestamp ??= kubeTime();
          pod.metadata.deletionGracePeriodSeconds = 0;
          continue;
        }
        this.pods.delete(k);
        this.note(`garbage-collected ${k}`);
        this.podGone(pod);
      }
    });
    return node;
  }

  // ---- pods -------------------------------------------------------------------------------

  addPod(seed: PodSeed): KObj {
    const namespace = seed.namespace ?? "default";
    this.ensureNamespace(namespace);
    const phase = seed.phase ?? (seed.node ? "Running" : "Pending");
    const ready = seed.ready ?? phase === "Running";
    const created = seed.createdAt ?? kubeTime();
    const ownerUid = seed.owner ? this.ownerUid(namespace, seed.owner.kind, seed.owner.name) : undefined;
    const pod: KObj = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        ...this.meta(seed.name, namespace, created),
        labels: { ...seed.labels },
        ...(seed.finalizers?.length ? { finalizers: [...seed.finalizers] } : {}),
        ...(seed.mirror ? { annotations: { "kubernetes.io/config.mirror": randomUUID().replace(/-/g, ""), "kubernetes.io/config.source": "file" } } : {}),
        ...(seed.owner
          ? {
              ownerReferences: [
                {
                  apiVersion: seed.owner.kind === "Job" ? "batch/v1" : seed.owner.kind === "ReplicationController" ? "v1" : "apps/v1",
                  kind: seed.owner.kind,
                  name: seed.owner.name,
                  uid: ownerUid!,
                  controller: true,
                  blockOwnerDeletion: true,
                },
              ],
            }
          : seed.mirror
            ? {
                ownerReferences: [
                  {
                    apiVersion: "v1",
                    kind: "Node",
                    name: seed.node ?? "",
                    uid: this.nodes.get(seed.node ?? "")?.metadata.uid ?? randomUUID(),
                    controller: true,
                  },
                ],
              }
            : {}),
      },
      spec: {
        ...(seed.node ? { nodeName: seed.node } : {}),
        containers: [
          {
            name: seed.name.split("-")[0] || "main",
            image: seed.image ?? "docker.io/library/nginx:1.27",
            resources: seed.requests ? { requests: { ...seed.requests } } : {},
            imagePullPolicy: "IfNotPresent",
          },
        ],
        volumes: seed.volumes ?? [],
        restartPolicy: seed.owner?.kind === "Job" ? "OnFailure" : "Always",
        terminationGracePeriodSeconds: 30,
        dnsPolicy: "ClusterFirst",
        schedulerName: "default-scheduler",
        serviceAccountName: "default",
        ...(seed.tolerations ? { tolerations: seed.tolerations } : {}),
      },
      status: { phase, conditions: [], startTime: created, qosClass: seed.requests ? "Burstable" : "BestEffort" },
    };
    this.setPodStatus(pod, phase, ready, seed.restarts ?? 0);
    this.pods.set(key(namespace, seed.name), pod);
    return pod;
  }

  private readonly ownerUids = new Map<string, string>();
  private ownerUid(ns: string, kind: string, name: string): string {
    const k = `${kind}/${ns}/${name}`;
    if (!this.ownerUids.has(k)) this.ownerUids.set(k, randomUUID());
    const uid = this.ownerUids.get(k)!;
    if (kind === "DaemonSet" && !this.daemonSets.has(key(ns, name)))
      this.daemonSets.set(key(ns, name), {
        apiVersion: "apps/v1",
        kind: "DaemonSet",
        metadata: { ...this.meta(name, ns), uid, generation: 1 },
        spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } } }, updateStrategy: { type: "RollingUpdate" } },
        status: { currentNumberScheduled: 0, desiredNumberScheduled: 0, numberMisscheduled: 0, numberReady: 0, observedGeneration: 1 },
      });
    return uid;
  }

  private setPodStatus(pod: KObj, phase: string, ready: boolean, restarts = 0): void {
    const now = kubeTime();
    const node = pod.spec.nodeName ? this.nodes.get(pod.spec.nodeName) : undefined;
    const ip = (node?.status.addresses as { type: string; address: string }[] | undefined)?.find((a) => a.type === "InternalIP")?.address;
    pod.status.phase = phase;
    pod.status.conditions = [
      {
        type: "PodScheduled",
        status: pod.spec.nodeName ? "True" : "False",
        lastTransitionTime: now,
        ...(pod.spec.nodeName ? {} : { reason: "Unschedulable", message: "0/0 nodes are available" }),
      },
      { type: "Initialized", status: "True", lastTransitionTime: now },
      { type: "ContainersReady", status: ready ? "True" : "False", lastTransitionTime: now },
      { type: "Ready", status: ready ? "True" : "False", lastTransitionTime: now },
    ];
    if (ip) {
      pod.status.hostIP = ip;
      pod.status.podIP = `10.42.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
    }
    pod.status.containerStatuses = (pod.spec.containers as { name: string; image: string }[]).map((c) => ({
      name: c.name,
      image: c.image,
      ready,
      started: phase === "Running",
      restartCount: restarts,
      state:
        phase === "Running"
          ? { running: { startedAt: now } }
          : phase === "Pending"
            ? { waiting: { reason: "ContainerCreating" } }
            : { terminated: { exitCode: phase === "Succeeded" ? 0 : 1, reason: phase === "Succeeded" ? "Completed" : "Error" } },
    }));
    pod.metadata.resourceVersion = this.nextResourceVersion();
  }

  /**
   * Graceful deletion as the API server does it: the pod gets a deletionTimestamp (now + the grace
   * period) and turns not-ready at once, and disappears when the grace period ends and its node's
   * kubelet confirms. A node that is not Ready (NotReady or Unknown: its kubelet is gone) confirms
   * nothing: the pod stays Terminating until the kubelet is back (setNodeReady) or the node object is
   * deleted (the pod GC in deleteNode). A pod with finalizers stays until they are gone. A grace of 0
   * (force deletion) or a pod bound to no node is removed at once, as kube-apiserver does.
   */
  deletePod(namespace: string, name: string, graceMs = this.opts.terminationGraceMs, cause = "deleted"): KObj | undefined {
    const k = key(namespace, name);
    const pod = this.pods.get(k);
    if (!pod) return undefined;
    if (pod.metadata.deletionTimestamp) return pod;
    pod.metadata.deletionTimestamp = kubeTime(new Date(Date.now() + graceMs));
    pod.metadata.deletionGracePeriodSeconds = Math.ceil(graceMs / 1000);
    pod.metadata.resourceVersion = this.nextResourceVersion();
    const ready = (pod.status.conditions as { type: string; status: string }[]).find((c) => c.type === "Ready");
    if (ready) ready.status = "False";
    this.note(`${cause} ${k}`);
    const uid = pod.metadata.uid;
    if (graceMs <= 0 || !pod.spec.nodeName) this.removeTerminated(k, uid);
    else this.later(graceMs, () => this.confirmTermination(k, uid));
    this.podTerminating(pod);
    return pod;
  }

  /** Called after a PATCH of a pod: a terminating pod whose last finalizer went is removed if its time is up. */
  podChanged(pod: KObj): void {
    const k = key(pod.metadata.namespace, pod.metadata.name);
    const ts = pod.metadata.deletionTimestamp;
    if (ts && Date.parse(ts) <= Date.now() && (pod.metadata.deletionGracePeriodSeconds === 0 || this.kubeletConfirms(pod)))
      this.removeTerminated(k, pod.metadata.uid);
  }

  /** Whether the kubelet of the pod's node runs and reports, so it can confirm that the pod stopped. */
  private kubeletConfirms(pod: KObj): boolean {
    const node = this.nodes.get(pod.spec.nodeName);
    // A pod bound to a node that no longer exists is the pod GC's (deleteNode), not left forever.
    return !node || isNodeReady(node);
  }

  /** The grace period of a terminating pod is over: the kubelet confirms, unless it is gone. */
  private confirmTermination(k: string, uid: string): void {
    const cur = this.pods.get(k);
    if (!cur || cur.metadata.uid !== uid) return;
    if (!this.kubeletConfirms(cur)) {
      this.note(`still terminating ${k} (${cur.spec.nodeName} is not Ready)`);
      return;
    }
    this.removeTerminated(k, uid);
  }

  private removeTerminated(k: string, uid: string): void {
    const cur = this.pods.get(k);
    if (!cur || cur.metadata.uid !== uid || cur.metadata.finalizers?.length) return;
    this.pods.delete(k);
    this.note(`gone ${k}`);
    this.podGone(cur);
  }

  /**
   * Removes a pod at once, with no grace period and no controller reacting: the pod is gone from the
   * datastore, as when an API server comes back on an older datastore. Returns whether it existed.
   */
  removePodNow(namespace: string, name: string): boolean {
    const gone = this.pods.delete(key(namespace, name));
    if (gone) this.note(`removed ${key(namespace, name)}`);
    return gone;
  }

  /** Runs the scheduler and the DaemonSet controller now (after pods were added without a node). */
  schedulePending(): void {
    this.reconcile();
  }

  private controllerOf(pod: KObj) {
    return pod.metadata.ownerReferences?.find((o) => o.controller);
  }

  /** ReplicaSet controller: a terminating pod is replaced at once (a new name), scheduled elsewhere. */
  private podTerminating(pod: KObj): void {
    const c = this.opts.controllers;
    const owner = this.controllerOf(pod);
    if (!c || owner?.kind !== "ReplicaSet") return;
    this.later(c.replacementDelayMs, () => this.createReplacement(pod, `${owner.name}-${suffix(5)}`));
  }

  /** StatefulSet controller: the same name comes back once the old pod is gone. */
  private podGone(pod: KObj): void {
    const c = this.opts.controllers;
    if (!c || this.controllerOf(pod)?.kind !== "StatefulSet") return;
    this.later(c.replacementDelayMs, () => this.createReplacement(pod, pod.metadata.name));
  }

  private createReplacement(old: KObj, name: string): void {
    const ns = old.metadata.namespace!;
    if (this.pods.has(key(ns, name))) return;
    const pod = clone(old);
    pod.metadata = { ...this.meta(name, ns), labels: old.metadata.labels, ownerReferences: old.metadata.ownerReferences };
    delete pod.spec.nodeName;
    pod.status = { phase: "Pending", conditions: [], qosClass: old.status.qosClass };
    this.setPodStatus(pod, "Pending", false);
    this.pods.set(key(ns, name), pod);
    this.note(`created ${key(ns, name)} (replaces ${old.metadata.name})`);
    this.reconcile();
  }

  private isSchedulable(node: KObj, pod: KObj): boolean {
    const ready = (node.status.conditions as { type: string; status: string }[]).some((c) => c.type === "Ready" && c.status === "True");
    if (!ready || node.spec.unschedulable) return false;
    const tolerations = (pod.spec.tolerations ?? []) as { key?: string; operator?: string; effect?: string; value?: string }[];
    const tolerated = (t: { key: string; value?: string; effect: string }) =>
      tolerations.some((x) => {
        const keyOk = x.operator === "Exists" ? !x.key || x.key === t.key : x.key === t.key && (x.value ?? "") === (t.value ?? "");
        return keyOk && (!x.effect || x.effect === t.effect);
      });
    const blocking = ((node.spec.taints ?? []) as { key: string; value?: string; effect: string }[]).filter(
      (t) => t.effect === "NoSchedule" || t.effect === "NoExecute",
    );
    if (!blocking.every(tolerated)) return false;
    // Volume node affinity: a pod whose claim is bound to a node-pinned volume can only go there.
    for (const v of (pod.spec.volumes ?? []) as { persistentVolumeClaim?: { claimName: string } }[]) {
      if (!v.persistentVolumeClaim) continue;
      const pvc = this.pvcs.get(key(pod.metadata.namespace, v.persistentVolumeClaim.claimName));
      const pv = pvc ? this.pvs.get(pvc.spec.volumeName) : undefined;
      const terms = (pv?.spec.nodeAffinity?.required?.nodeSelectorTerms ?? []) as {
        matchExpressions?: { key: string; operator: string; values?: string[] }[];
      }[];
      const fits =
        terms.length === 0 ||
        terms.some((t) =>
          (t.matchExpressions ?? []).every((e) => e.key !== "kubernetes.io/hostname" || (e.operator === "In" && (e.values ?? []).includes(node.metadata.name))),
        );
      if (!fits) return false;
    }
    const count = [...this.pods.values()].filter((p) => p.spec.nodeName === node.metadata.name).length;
    return count < Number(node.status.allocatable.pods ?? 110);
  }

  /** The scheduler and the DaemonSet controller, run after every change that could matter. */
  private reconcile(): void {
    const c = this.opts.controllers;
    if (!c) return;
    for (const pod of this.pods.values()) {
      if (pod.spec.nodeName || pod.metadata.deletionTimestamp) continue;
      const candidates = [...this.nodes.values()].filter((n) => this.isSchedulable(n, pod));
      if (!candidates.length) continue;
      const load = (n: KObj) => [...this.pods.values()].filter((p) => p.spec.nodeName === n.metadata.name).length;
      candidates.sort((a, b) => load(a) - load(b) || a.metadata.name.localeCompare(b.metadata.name));
      pod.spec.nodeName = candidates[0].metadata.name;
      this.setPodStatus(pod, "Pending", false);
      this.note(`scheduled ${key(pod.metadata.namespace, pod.metadata.name)} on ${pod.spec.nodeName}`);
      const k = key(pod.metadata.namespace, pod.metadata.name);
      const uid = pod.metadata.uid;
      this.later(c.readyDelayMs, () => {
        const cur = this.pods.get(k);
        if (cur?.metadata.uid === uid && !cur.metadata.deletionTimestamp) this.setPodStatus(cur, "Running", true);
      });
    }
    // DaemonSets: one pod per Ready node, using an existing pod of the set as the template.
    const sets = new Map<string, KObj>();
    for (const pod of this.pods.values()) {
      const o = this.controllerOf(pod);
      if (o?.kind === "DaemonSet") sets.set(`${pod.metadata.namespace}/${o.name}`, pod);
    }
    for (const node of this.nodes.values()) {
      const ready = (node.status.conditions as { type: string; status: string }[]).some((x) => x.type === "Ready" && x.status === "True");
      if (!ready) continue;
      for (const [set, template] of sets) {
        const has = [...this.pods.values()].some(
          (p) =>
            p.spec.nodeName === node.metadata.name &&
            `${p.metadata.namespace}/${this.controllerOf(p)?.name}` === set &&
            this.controllerOf(p)?.kind === "DaemonSet",
        );
        if (has) continue;
        const name = `${this.controllerOf(template)!.name}-${suffix(5)}`;
        const pod = clone(template);
        pod.metadata = {
          ...this.meta(name, template.metadata.namespace),
          labels: template.metadata.labels,
          ownerReferences: template.metadata.ownerReferences,
        };
        pod.spec.nodeName = node.metadata.name;
        pod.status = { phase: "Pending", conditions: [], qosClass: template.status.qosClass };
        this.setPodStatus(pod, "Pending", false);
        this.pods.set(key(pod.metadata.namespace, name), pod);
        this.note(`created ${key(pod.metadata.namespace, name)} on ${node.metadata.name} (DaemonSet)`);
        const k = key(pod.metadata.namespace, name);
        this.later(c.readyDelayMs, () => {
          const cur = this.pods.get(k);
          if (cur && !cur.metadata.deletionTimestamp) this.setPodStatus(cur, "Running", true);
        });
      }
    }
  }

  /** Marks a pod Ready or not (e.g. to make a PodDisruptionBudget healthy again in a test). */
  setPodReady(namespace: string, name: string, ready: boolean): void {
    const pod = this.pods.get(key(namespace, name));
    if (!pod) return;
    this.markedNotReady.delete(pod.metadata.uid as string);
    this.setPodStatus(pod, ready ? "Running" : pod.status.phase, ready);
  }

  // ---- PodDisruptionBudgets -----------------------------------------------------------------

  addPdb(seed: PdbSeed): KObj {
    const namespace = seed.namespace ?? "default";
    this.ensureNamespace(namespace);
    const pdb: KObj = {
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: { ...this.meta(seed.name, namespace), generation: 1 },
      spec: {
        selector: seed.selector,
        ...(seed.minAvailable !== undefined ? { minAvailable: seed.minAvailable } : {}),
        ...(seed.maxUnavailable !== undefined ? { maxUnavailable: seed.maxUnavailable } : {}),
      },
    };
    this.pdbs.set(key(namespace, seed.name), pdb);
    return pdb;
  }

  /** Replaces a budget's spec (like `kubectl edit pdb`), e.g. to unblock a drain in a test. */
  updatePdb(namespace: string, name: string, spec: { minAvailable?: number | string; maxUnavailable?: number | string }): void {
    const pdb = this.pdbs.get(key(namespace, name));
    if (!pdb) throw new Error(`no PodDisruptionBudget ${namespace}/${name}`);
    pdb.spec = { selector: pdb.spec.selector, ...spec };
    pdb.metadata.generation = (pdb.metadata.generation ?? 1) + 1;
    pdb.metadata.resourceVersion = this.nextResourceVersion();
  }

  /** The pods a budget covers (same namespace, selector matches). */
  podsOfPdb(pdb: KObj): KObj[] {
    return [...this.pods.values()].filter((p) => p.metadata.namespace === pdb.metadata.namespace && matchesSelector(pdb.spec.selector, p.metadata.labels));
  }

  /** The status the disruption controller would write, computed from the pods now. */
  pdbStatus(pdb: KObj) {
    const pods = this.podsOfPdb(pdb);
    const live = pods.filter((p) => !p.metadata.deletionTimestamp);
    const healthy = live.filter((p) => isPodReady(p)).length;
    const scaled = (v: number | string, expected: number) => (typeof v === "number" ? v : Math.ceil((parseInt(v, 10) / 100) * expected));
    let expected: number;
    let desired: number;
    if (pdb.spec.maxUnavailable !== undefined) {
      expected = live.length;
      desired = Math.max(0, expected - scaled(pdb.spec.maxUnavailable, expected));
    } else if (typeof pdb.spec.minAvailable === "number") {
      expected = pods.length;
      desired = pdb.spec.minAvailable;
    } else {
      expected = live.length;
      desired = scaled(pdb.spec.minAvailable ?? 1, expected);
    }
    const allowed = Math.max(0, healthy - desired);
    return {
      observedGeneration: pdb.metadata.generation ?? 1,
      disruptionsAllowed: allowed,
      currentHealthy: healthy,
      desiredHealthy: desired,
      expectedPods: expected,
      conditions: [
        {
          type: "DisruptionAllowed",
          status: allowed > 0 ? "True" : "False",
          reason: allowed > 0 ? "SufficientPods" : "InsufficientPods",
          message: "",
          observedGeneration: pdb.metadata.generation ?? 1,
          lastTransitionTime: kubeTime(),
        },
      ],
    };
  }

  /** A budget as the API returns it, with its live status. */
  pdbView(pdb: KObj): KObj {
    return { ...clone(pdb), status: this.pdbStatus(pdb) };
  }

  // ---- volumes ----------------------------------------------------------------------------

  /** A PersistentVolume; `local-path` (k3s's default provisioner) makes a hostPath volume pinned to `node`. */
  addPv(pv: { name: string; node?: string; kind: "local-path" | "local" | "nfs"; claim?: { namespace: string; name: string } }): KObj {
    const source =
      pv.kind === "nfs"
        ? { nfs: { server: "nas.lan", path: `/export/${pv.name}` } }
        : pv.kind === "local"
          ? { local: { path: `/mnt/disks/${pv.name}` } }
          : { hostPath: { path: `/var/lib/rancher/k3s/storage/${pv.name}`, type: "DirectoryOrCreate" } };
    const obj: KObj = {
      apiVersion: "v1",
      kind: "PersistentVolume",
      metadata: {
        ...this.meta(pv.name, undefined),
        ...(pv.kind === "local-path"
          ? { annotations: { "pv.kubernetes.io/provisioned-by": "rancher.io/local-path", "local.path.provisioner/selected-node": pv.node ?? "" } }
          : {}),
      },
      spec: {
        capacity: { storage: "1Gi" },
        accessModes: ["ReadWriteOnce"],
        persistentVolumeReclaimPolicy: "Delete",
        storageClassName: pv.kind === "nfs" ? "nfs-client" : "local-path",
        ...source,
        ...(pv.node
          ? {
              nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [pv.node] }] }] } },
            }
          : {}),
        ...(pv.claim ? { claimRef: { kind: "PersistentVolumeClaim", namespace: pv.claim.namespace, name: pv.claim.name } } : {}),
      },
      status: { phase: pv.claim ? "Bound" : "Available" },
    };
    this.pvs.set(pv.name, obj);
    return obj;
  }

  addPvc(pvc: { name: string; namespace?: string; volumeName: string; storageClassName?: string }): KObj {
    const namespace = pvc.namespace ?? "default";
    this.ensureNamespace(namespace);
    const obj: KObj = {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: this.meta(pvc.name, namespace),
      spec: {
        accessModes: ["ReadWriteOnce"],
        resources: { requests: { storage: "1Gi" } },
        volumeName: pvc.volumeName,
        storageClassName: pvc.storageClassName ?? "local-path",
      },
      status: { phase: "Bound", capacity: { storage: "1Gi" } },
    };
    this.pvcs.set(key(namespace, pvc.name), obj);
    return obj;
  }
}

export function isNodeReady(node: KObj): boolean {
  return ((node.status?.conditions ?? []) as { type: string; status: string }[]).some((c) => c.type === "Ready" && c.status === "True");
}

export function isPodReady(pod: KObj): boolean {
  return (
    pod.status?.phase === "Running" &&
    ((pod.status?.conditions ?? []) as { type: string; status: string }[]).some((c) => c.type === "Ready" && c.status === "True")
  );
}
