import { z } from "zod";

/**
 * The dashboard's node API (`/api/nodes/**`), drains, the worker-migration wizard
 * (`/api/worker-migrations/**`) and the audit log API (`/api/audit`, shared by both wizards).
 */

const ts = z.string(); // ISO 8601 timestamp

export const Resources = z.object({ cpuMillis: z.number(), memoryBytes: z.number() });
export type Resources = z.infer<typeof Resources>;

export const NodeCondition = z.object({
  type: z.string(),
  status: z.string(),
  reason: z.string().nullable(),
  message: z.string().nullable(),
  lastTransitionTime: ts.nullable(),
});
export type NodeCondition = z.infer<typeof NodeCondition>;

export const Taint = z.object({ key: z.string(), value: z.string().nullable(), effect: z.string() });
export type Taint = z.infer<typeof Taint>;

export const NodeReadiness = z.enum(["Ready", "NotReady", "Unknown"]);
export type NodeReadiness = z.infer<typeof NodeReadiness>;

export const NodeSummary = z.object({
  name: z.string(),
  uid: z.string(),
  ready: NodeReadiness,
  /** When the Ready condition last changed. */
  readySince: ts.nullable(),
  /** Conditions other than Ready that are True (MemoryPressure, DiskPressure, PIDPressure, NetworkUnavailable). */
  pressures: z.array(z.string()),
  conditions: z.array(NodeCondition),
  /** From `node-role.kubernetes.io/<role>` labels; empty for a plain k3s agent (a worker). */
  roles: z.array(z.string()),
  controlPlane: z.boolean(),
  kubeletVersion: z.string(),
  osImage: z.string(),
  architecture: z.string(),
  kernelVersion: z.string(),
  containerRuntime: z.string(),
  internalIP: z.string().nullable(),
  createdAt: ts,
  unschedulable: z.boolean(),
  taints: z.array(Taint),
  allocatable: Resources.extend({ pods: z.number() }),
  /** Sum of the requests of the pods bound to the node that have not finished. */
  requested: Resources,
  podCount: z.number(),
});
export type NodeSummary = z.infer<typeof NodeSummary>;

/** A volume whose data lives on the node itself and does not follow the pod elsewhere. */
export const NodeLocalVolume = z.object({
  volume: z.string(),
  kind: z.enum(["emptyDir", "hostPath", "localPersistentVolume"]),
  detail: z.string(),
});
export type NodeLocalVolume = z.infer<typeof NodeLocalVolume>;

/** How a drain treats a pod (the categories of `kubectl drain`). */
export const PodKind = z.enum(["workload", "daemonset", "mirror", "unmanaged", "finished"]);
export type PodKind = z.infer<typeof PodKind>;

export const PodSummary = z.object({
  namespace: z.string(),
  name: z.string(),
  uid: z.string(),
  phase: z.string(),
  ready: z.boolean(),
  terminating: z.boolean(),
  owner: z.object({ kind: z.string(), name: z.string() }).nullable(),
  kind: PodKind,
  requests: Resources,
  restarts: z.number(),
  createdAt: ts.nullable(),
  images: z.array(z.string()),
  nodeLocalVolumes: z.array(NodeLocalVolume),
});
export type PodSummary = z.infer<typeof PodSummary>;

export const NodeDetail = z.object({
  node: NodeSummary,
  labels: z.record(z.string(), z.string()),
  pods: z.array(PodSummary),
});
export type NodeDetail = z.infer<typeof NodeDetail>;

export const KubeErrorCode = z.enum(["not_configured", "unreachable", "tls", "unauthorized", "forbidden", "not_found", "conflict", "invalid", "other"]);
export type KubeErrorCode = z.infer<typeof KubeErrorCode>;

/** A failed call to the Kubernetes API, as the dashboard reports it (headlamp style: status + cluster). */
export const KubeErrorInfo = z.object({
  code: KubeErrorCode,
  message: z.string(),
  /** HTTP status from the API server; 0 when it could not be reached or is not configured. */
  status: z.number(),
  cluster: z.string().nullable(),
  /** For `forbidden`: the verb and resource the dashboard's user lacks. */
  verb: z.string().nullable(),
  resource: z.string().nullable(),
});
export type KubeErrorInfo = z.infer<typeof KubeErrorInfo>;

export const ClusterInfo = z.object({
  /** The kubeconfig cluster name ("in-cluster" when running in a pod). */
  name: z.string(),
  server: z.string(),
  context: z.string().nullable(),
  source: z.enum(["kubeconfig", "in-cluster"]),
  kubeconfigPath: z.string().nullable(),
});
export type ClusterInfo = z.infer<typeof ClusterInfo>;

/** GET /api/nodes: the nodes, live or (when the API fails) the last ones seen, with the error. */
export const NodesResponse = z.object({
  cluster: ClusterInfo.nullable(),
  nodes: z.array(NodeSummary),
  /** When `nodes` was read from the API (null: never). */
  fetchedAt: ts.nullable(),
  /** True when `nodes` is fresh from this request; false when it is the cached copy. */
  live: z.boolean(),
  error: KubeErrorInfo.nullable(),
});
export type NodesResponse = z.infer<typeof NodesResponse>;

// ---- drains --------------------------------------------------------------------------------

/**
 * POST /api/nodes/:name/drain, and a worker migration's drain action. Unknown fields are refused
 * (400), so a typo (`forse`) never drains with a default the user did not choose.
 */
export const DrainOptions = z.strictObject({
  /** Evict pods with emptyDir volumes; their data is lost (`--delete-emptydir-data`). */
  deleteEmptyDirData: z.boolean().default(false),
  /** Evict pods no controller manages; nothing recreates them (`--force`). */
  force: z.boolean().default(false),
  /** Give up after this long (`--timeout`). */
  timeoutSeconds: z.number().int().min(5).max(3600).default(300),
});
export type DrainOptions = z.infer<typeof DrainOptions>;
export type DrainOptionsInput = z.input<typeof DrainOptions>;

/**
 * `deleted`: evicted and past its grace period on a node that is not Ready, so no kubelet will
 * confirm that it stopped; the drain no longer waits for it (kubectl's --skip-wait-for-delete-timeout)
 * and it is removed with the node object (pod GC) or when the kubelet is back.
 */
export const DrainPodState = z.enum(["pending", "evicting", "blocked", "terminating", "gone", "deleted", "failed", "skipped"]);
export type DrainPodState = z.infer<typeof DrainPodState>;

export const DrainPodProgress = z.object({
  namespace: z.string(),
  name: z.string(),
  state: DrainPodState,
  /** Why a pod is skipped or failed, or the API's words while blocked. */
  message: z.string().nullable(),
  /** PodDisruptionBudgets covering the pod (named when an eviction is refused). */
  pdbs: z.array(z.string()),
  attempts: z.number(),
  updatedAt: ts,
});
export type DrainPodProgress = z.infer<typeof DrainPodProgress>;

export const DrainChoice = z.object({
  namespace: z.string(),
  name: z.string(),
  reason: z.enum(["emptyDir", "unmanaged"]),
  detail: z.string(),
});
export type DrainChoice = z.infer<typeof DrainChoice>;

export const DrainJobState = z.enum(["running", "succeeded", "failed", "refused", "cancelled", "interrupted"]);
export type DrainJobState = z.infer<typeof DrainJobState>;

export const DrainJob = z.object({
  id: z.string(),
  node: z.string(),
  state: DrainJobState,
  /** As the drain was started; read back from lifeboat.db, so not strict like the request. */
  options: z.object(DrainOptions.shape),
  startedAt: ts,
  finishedAt: ts.nullable(),
  pods: z.array(DrainPodProgress),
  /** For `refused`: the pods that need an explicit choice first. */
  needsChoice: z.array(DrainChoice),
  /** For `failed`: the pods still on the node and, for budget refusals, which budgets. */
  blockers: z.array(z.object({ namespace: z.string(), name: z.string(), pdbs: z.array(z.string()), message: z.string() })),
  message: z.string().nullable(),
  /** The equivalent command. */
  kubectl: z.string(),
});
export type DrainJob = z.infer<typeof DrainJob>;

/** POST /api/nodes/:name/{cordon,uncordon} and DELETE /api/nodes/:name answer this. */
export const NodeActionResult = z.object({
  node: z.string(),
  action: z.enum(["cordon", "uncordon", "delete"]),
  message: z.string(),
  kubectl: z.string(),
});
export type NodeActionResult = z.infer<typeof NodeActionResult>;

/** DELETE /api/nodes/:name. Unknown fields are refused (400), as in every request body. */
export const DeleteNodeRequest = z.strictObject({ confirm: z.string() });

// ---- pre-checks ----------------------------------------------------------------------------

export const PrecheckPdb = z.object({
  namespace: z.string(),
  name: z.string(),
  disruptionsAllowed: z.number(),
  currentHealthy: z.number(),
  desiredHealthy: z.number(),
  podsOnNode: z.array(z.string()),
  /** More of its pods on the node than it allows to go now: the drain will wait (or time out). */
  wouldBlock: z.boolean(),
  message: z.string(),
});
export type PrecheckPdb = z.infer<typeof PrecheckPdb>;

export const PrecheckReport = z.object({
  node: z.string(),
  checkedAt: ts,
  pods: z.array(PodSummary),
  capacity: z.object({
    fits: z.boolean(),
    /** What the pods that will be recreated elsewhere ask for. */
    needed: Resources.extend({ pods: z.number() }),
    /** Free room on the nodes that can take them (Ready, schedulable). */
    free: Resources.extend({ pods: z.number() }),
    targets: z.array(z.object({ node: z.string(), free: Resources.extend({ pods: z.number() }) })),
    unplaceable: z.array(z.object({ namespace: z.string(), name: z.string(), reason: z.string() })),
  }),
  nodeLocal: z.array(z.object({ namespace: z.string(), name: z.string(), volumes: z.array(NodeLocalVolume) })),
  pdbs: z.array(PrecheckPdb),
  choices: z.array(DrainChoice),
  /** Sentences, worst first; empty when nothing stands in the way. */
  warnings: z.array(z.string()),
  /** Parts that could not be checked (e.g. no permission to list PersistentVolumes). */
  notChecked: z.array(z.string()),
});
export type PrecheckReport = z.infer<typeof PrecheckReport>;

// ---- worker-migration wizard ---------------------------------------------------------------

export const WORKER_MIGRATION_STEPS = [
  { id: "choose", label: "Choose the worker" },
  { id: "precheck", label: "Pre-checks" },
  { id: "cordon", label: "Cordon" },
  { id: "drain", label: "Drain" },
  { id: "delete", label: "Delete the node" },
  { id: "join", label: "Join the replacement" },
  { id: "wait", label: "Wait for it" },
  { id: "summary", label: "Summary" },
] as const;
export const WorkerMigrationStep = z.enum(["choose", "precheck", "cordon", "drain", "delete", "join", "wait", "summary"]);
export type WorkerMigrationStep = z.infer<typeof WorkerMigrationStep>;

export const MigrationEvent = z.object({ at: ts, action: z.string(), outcome: z.string(), message: z.string() });
export type MigrationEvent = z.infer<typeof MigrationEvent>;

/** What the wizard saves in `wizard_runs.state` (kind "worker-migration"). Never holds the join token. */
export const WorkerMigrationState = z.object({
  node: z.string().nullable(),
  /** The old node as it was when chosen (it is deleted later). */
  nodeInfo: z
    .object({
      uid: z.string(),
      internalIP: z.string().nullable(),
      kubeletVersion: z.string(),
      osImage: z.string(),
      architecture: z.string(),
      podCount: z.number(),
    })
    .nullable(),
  precheck: PrecheckReport.nullable(),
  precheckAcceptedAt: ts.nullable(),
  cordonedAt: ts.nullable(),
  drainJobId: z.string().nullable(),
  drainedAt: ts.nullable(),
  deletedAt: ts.nullable(),
  /** Node uids present right after the delete: a node not among them is the replacement. */
  knownNodeUids: z.array(z.string()),
  tokenRevealedAt: ts.nullable(),
  waitingSince: ts.nullable(),
  newNode: z.object({ name: z.string(), uid: z.string(), internalIP: z.string().nullable(), kubeletVersion: z.string(), readyAt: ts }).nullable(),
  finishedAt: ts.nullable(),
  events: z.array(MigrationEvent),
});
export type WorkerMigrationState = z.infer<typeof WorkerMigrationState>;

/** The demo cluster's one call no real cluster has: a new node registers (lib/kube/simulator/demo-cluster.ts). */
export const DEMO_JOIN_PATH = "/lifeboat-demo/v1/join";

export const JoinInfo = z.object({
  /** The k3s server URL a new agent joins (kubeconfig server, or LIFEBOAT_K3S_URL). */
  server: z.string(),
  /** Set when that URL cannot work from another machine (loopback). */
  serverWarning: z.string().nullable(),
  tokenAvailable: z.boolean(),
  /** What to do when the token is not available. */
  tokenHelp: z.string().nullable(),
  /** The join command with the token masked. */
  command: z.string(),
  /** The cluster is npm start's demo cluster: the join step offers its demo action (POST /api/worker-migrations/:id/demo-join). */
  demoCluster: z.boolean().default(false),
});
export type JoinInfo = z.infer<typeof JoinInfo>;

export const NewNodeCandidate = z.object({
  name: z.string(),
  uid: z.string(),
  ready: NodeReadiness,
  createdAt: ts,
  kubeletVersion: z.string(),
  internalIP: z.string().nullable(),
});
export type NewNodeCandidate = z.infer<typeof NewNodeCandidate>;

/** GET /api/worker-migrations/current and /api/worker-migrations/:id. */
export const WorkerMigrationView = z.object({
  id: z.string(),
  step: WorkerMigrationStep,
  status: z.enum(["active", "done", "abandoned"]),
  createdAt: ts,
  updatedAt: ts,
  state: WorkerMigrationState,
  drain: DrainJob.nullable(),
  join: JoinInfo.nullable(),
  candidates: z.array(NewNodeCandidate),
  /** A Kubernetes API failure while building this view (the saved state is still shown). */
  error: KubeErrorInfo.nullable(),
});
export type WorkerMigrationView = z.infer<typeof WorkerMigrationView>;

export const CurrentWorkerMigration = z.object({ run: WorkerMigrationView.nullable() });
export type CurrentWorkerMigration = z.infer<typeof CurrentWorkerMigration>;

/** POST /api/worker-migrations {node} starts a migration (step 1); POST /api/worker-migrations/:id applies one action on the current step. */
export const StartWorkerMigration = z.strictObject({ node: z.string().min(1) });
/** POST /api/worker-migrations/:id — one action on the current step. Unknown fields are refused (400). */
export const WorkerMigrationAction = z.discriminatedUnion("action", [
  z.strictObject({ action: z.literal("precheck") }),
  z.strictObject({ action: z.literal("accept-precheck"), acknowledgeWarnings: z.boolean().default(false) }),
  z.strictObject({ action: z.literal("cordon") }),
  z.strictObject({ action: z.literal("drain"), options: DrainOptions }),
  z.strictObject({ action: z.literal("cancel-drain") }),
  z.strictObject({ action: z.literal("drained") }),
  z.strictObject({ action: z.literal("delete"), confirm: z.string() }),
  z.strictObject({ action: z.literal("joined") }),
  z.strictObject({ action: z.literal("finish") }),
  z.strictObject({ action: z.literal("abandon") }),
]);
export type WorkerMigrationAction = z.input<typeof WorkerMigrationAction>;

/** POST /api/worker-migrations/:id/token — the k3s join token, after an explicit reveal. */
export const RevealedToken = z.object({ token: z.string(), command: z.string() });
export type RevealedToken = z.infer<typeof RevealedToken>;

// ---- audit log (both wizards and the node actions write it) --------------------------------

export const AuditEntryView = z.object({
  id: z.number(),
  at: ts,
  action: z.string(),
  target: z.string().nullable(),
  outcome: z.string(),
  detail: z.unknown(),
  /** Who acted: a user's or API token's name, "system" for background work; null on entries from before accounts. */
  actor: z.string().nullable(),
  actorRole: z.string().nullable(),
  clientAddress: z.string().nullable(),
});
export type AuditEntryView = z.infer<typeof AuditEntryView>;

/** GET /api/audit?prefix=&limit=&before= */
export const AuditResponse = z.object({ entries: z.array(AuditEntryView) });
export type AuditResponse = z.infer<typeof AuditResponse>;
