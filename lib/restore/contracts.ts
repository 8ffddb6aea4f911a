import { z } from "zod";
import { Job } from "../contracts/agent-jobs";
import { HealthReport } from "../contracts/agent-health";
import { RecoveryReport } from "../contracts/agent-recovery";
import { PointTime, RestoreInclude, RestoreRecord } from "../contracts/agent-restore";
import { Anomaly, CatalogSet, ManifestState } from "../contracts/catalog";
import { KineStats } from "../contracts/manifest";

/**
 * The dashboard's restore API (`/api/restore/**`, `/api/drills/**`, `/api/backups/:id/verify`):
 * restore drills (proven-restorable backups) and the master-restore wizard. Only zod here, so the
 * browser can validate answers with the same schemas the server writes them with.
 */

const ts = z.string(); // ISO 8601

// ---------------------------------------------------------------------------------------------
// Restore drills

export const DrillState = z.enum(["queued", "running", "verified", "failed"]);
export type DrillState = z.infer<typeof DrillState>;

/** What a drill proved about a backup (from the agent's RestoreRecord.verification). */
export const DrillDetail = z.object({
  /** e.g. "backup set seed-…: state_….db.gpg". */
  sourceDescription: z.string(),
  bytesStaged: z.number().int().nonnegative(),
  integrity: z.boolean(),
  tokenSource: z.enum(["archive", "host", "none"]).nullable(),
  tokenFits: z.boolean().nullable(),
  walReplayed: z.boolean(),
  stats: KineStats.nullable(),
  warnings: z.array(z.string()),
  millis: z.number().nonnegative(),
});
export type DrillDetail = z.infer<typeof DrillDetail>;

/** The reason a queued set carries in the catalog's Verification (badges show "queued"). */
export const QUEUED_REASON = "Queued for a restore drill.";

/** One backup set's restore drill as the dashboard records it. */
export const DrillRecord = z.object({
  setId: z.string(),
  state: DrillState,
  /** "auto": queued because the set is new; "user": Verify now. */
  requestedBy: z.enum(["auto", "user"]),
  queuedAt: ts,
  startedAt: ts.nullable(),
  finishedAt: ts.nullable(),
  /** A sentence: why it failed, or what it proved. */
  reason: z.string().nullable(),
  /** The agent's restore id of the drill (GET /restores/:id). */
  restoreId: z.string().nullable(),
  detail: DrillDetail.nullable(),
  attempts: z.number().int().nonnegative(),
});
export type DrillRecord = z.infer<typeof DrillRecord>;

/** GET /api/drills: every recorded drill of the current store, and the queue. */
export const DrillOverview = z.object({
  /** False when no agent is configured: nothing is verified automatically. */
  enabled: z.boolean(),
  /** Why drills are off or paused, in words. */
  note: z.string().nullable(),
  paused: z.boolean(),
  running: z.string().nullable(),
  queued: z.number().int().nonnegative(),
  drills: z.array(DrillRecord),
});
export type DrillOverview = z.infer<typeof DrillOverview>;

// ---------------------------------------------------------------------------------------------
// The backup proposal

/** What the dashboard knows about the database inside a set (manifest, else the last drill). */
export const SetStats = z.object({
  from: z.enum(["manifest", "drill"]),
  currentRevision: z.number().int().nonnegative(),
  rowCount: z.number().int().nonnegative(),
  liveKeys: z.number().int().nonnegative(),
  compactionLag: z.number().int().nonnegative(),
  fileSize: z.number().int().nonnegative(),
  k3sVersion: z.string().nullable(),
  host: z.string().nullable(),
  topPrefixesByRows: z.array(z.object({ prefix: z.string(), rows: z.number().int(), bytes: z.number().int() })),
});
export type SetStats = z.infer<typeof SetStats>;

export const Proposal = z.object({
  setId: z.string(),
  /** "newest verified backup before the size anomaly began on 2024-12-16 00:00 UTC". */
  reason: z.string(),
  /** When the anomaly episode the proposal avoids began, if there is one. */
  anomalyBegan: ts.nullable(),
  /** Things to know about the proposed set (not verified yet, compaction was stuck…). */
  warnings: z.array(z.string()),
  /** Newer sets passed over, each with why (at most 10). */
  skipped: z.array(z.object({ setId: z.string(), why: z.string() })),
});
export type Proposal = z.infer<typeof Proposal>;

/** One row of the wizard's "Which backup" list. */
export const CandidateSet = z.object({
  set: CatalogSet,
  stats: SetStats.nullable(),
  drill: DrillRecord.nullable(),
});
export type CandidateSet = z.infer<typeof CandidateSet>;

/** GET /api/restore/candidates */
export const RestoreCandidates = z.object({
  proposal: Proposal.nullable(),
  /** Why there is no proposal. */
  noProposal: z.string().nullable(),
  sets: z.array(CandidateSet),
  total: z.number().int().nonnegative(),
  refreshedAt: ts.nullable(),
});
export type RestoreCandidates = z.infer<typeof RestoreCandidates>;

// ---------------------------------------------------------------------------------------------
// The master-restore wizard

export const RESTORE_WIZARD_STEPS = [
  { id: "where", label: "Where" },
  { id: "which", label: "Which backup" },
  { id: "preview", label: "Preview" },
  { id: "stage", label: "Stage and verify" },
  { id: "confirm", label: "Confirm" },
  { id: "restore", label: "Restore" },
  { id: "after", label: "After" },
] as const;
export const RestoreWizardStep = z.enum(["where", "which", "preview", "stage", "confirm", "restore", "after"]);
export type RestoreWizardStep = z.infer<typeof RestoreWizardStep>;

/** Where to restore: the dashboard's configured agent, or a new machine's agent the user entered (its token stays on the server). */
export const AgentTarget = z.object({
  kind: z.enum(["configured", "new"]),
  url: z.string(),
  /** Server-side id of a new machine's saved address and token (never the token itself). */
  targetId: z.string().nullable(),
  /** A new machine's pinned certificate fingerprint, as entered (not a secret); absent for the configured agent. */
  fingerprint: z.string().nullable().optional(),
});
export type AgentTarget = z.infer<typeof AgentTarget>;

/** Why the target's agent could not be asked, in words. */
export const AgentProblem = z.object({
  url: z.string(),
  /** The error's code: agent_unreachable | agent_slow | agent_auth | agent_bad_response | target_unavailable | the agent's own */
  code: z.string(),
  message: z.string(),
  /** What to check. */
  hint: z.string(),
  at: ts,
});
export type AgentProblem = z.infer<typeof AgentProblem>;

const CANDIDATE_SHAPES = {
  backup: {
    kind: z.literal("backup"),
    /** A set id, or "latest" with a point (the agent picks the base of the log's generation). */
    setId: z.string().min(1),
    /**
     * A point in time (docs/continuous.md): the set brought forward with the log to this revision
     * (or to the newest revision read at or before this ISO time) — what the agent's POST /restores takes.
     */
    toRevision: z.number().int().positive().optional(),
    toTime: PointTime.optional(),
    /** What the user picked it for, e.g. "just before deployments/default/web was deleted" (shown, audited). */
    pointLabel: z.string().max(300).optional(),
  },
  recovery: { kind: z.literal("recovery"), id: z.string().min(1) },
};
/** The chosen backup or recovery, as a run's state keeps it (read back from lifeboat.db, so not strict like the request). */
export const WizardCandidate = z.discriminatedUnion("kind", [z.object(CANDIDATE_SHAPES.backup), z.object(CANDIDATE_SHAPES.recovery)]);
export type WizardCandidate = z.infer<typeof WizardCandidate>;

export const WizardEvent = z.object({ at: ts, action: z.string(), outcome: z.string(), message: z.string() });
export type WizardEvent = z.infer<typeof WizardEvent>;

/** Nodes coming back after the restore (from the Kubernetes API, when one is configured). */
export const NodesCheck = z.object({
  state: z.enum(["not-configured", "waiting", "ready", "timed-out", "error"]),
  message: z.string(),
  startedAt: ts,
  deadline: ts,
  nodes: z.array(z.object({ name: z.string(), ready: z.string(), controlPlane: z.boolean() })),
  checkedAt: ts.nullable(),
});
export type NodesCheck = z.infer<typeof NodesCheck>;

export const RestoreWizardState = z.object({
  target: AgentTarget.nullable(),
  health: HealthReport.nullable(),
  healthAt: ts.nullable(),
  /** The agent's host name (from the agent, else the newest Lifeboat manifest), as a hint for the confirmation. */
  hostHint: z.string().nullable(),
  hostHintSource: z.string().nullable(),
  agentProblem: AgentProblem.nullable(),
  recovery: z.object({ recoveryId: z.string(), jobId: z.string(), startedAt: ts, report: RecoveryReport.nullable(), error: z.string().nullable() }).nullable(),
  candidate: WizardCandidate.nullable(),
  include: RestoreInclude,
  proposal: Proposal.nullable(),
  restoreId: z.string().nullable(),
  /** The agent job working on the restore now (stage, confirm or rollback). */
  jobId: z.string().nullable(),
  /** The last RestoreRecord seen, so the page can show it while the agent is away. */
  record: RestoreRecord.nullable(),
  recordAt: ts.nullable(),
  confirmedHost: z.string().nullable(),
  confirmedAt: ts.nullable(),
  nodes: NodesCheck.nullable(),
  outcome: z.enum(["restored", "rolled-back", "left-as-is"]).nullable(),
  finishedAt: ts.nullable(),
  events: z.array(WizardEvent),
});
export type RestoreWizardState = z.infer<typeof RestoreWizardState>;

/** The chosen backup as step 3 shows it. */
export const BackupPreview = z.object({
  set: CatalogSet.nullable(),
  manifest: ManifestState.nullable(),
  stats: SetStats.nullable(),
  drill: DrillRecord.nullable(),
  anomalies: z.array(Anomaly),
});
export type BackupPreview = z.infer<typeof BackupPreview>;

/** GET /api/restore/runs/:id — the saved run plus what is live now. */
export const RestoreWizardView = z.object({
  id: z.string(),
  step: RestoreWizardStep,
  status: z.enum(["active", "done", "abandoned"]),
  createdAt: ts,
  updatedAt: ts,
  state: RestoreWizardState,
  /** The dashboard's configured agent (LIFEBOAT_AGENT_URL), if any. */
  configuredAgent: z.string().nullable(),
  /** The agent's job now (bytes, then steps), while one runs. */
  job: Job.nullable(),
  preview: BackupPreview.nullable(),
  /** Is a Kubernetes API configured (for the nodes check after the restore)? */
  kubeConfigured: z.boolean(),
});
export type RestoreWizardView = z.infer<typeof RestoreWizardView>;

export const CurrentRestoreRun = z.object({ run: RestoreWizardView.nullable() });
export type CurrentRestoreRun = z.infer<typeof CurrentRestoreRun>;

const httpUrl = z
  .string()
  .trim()
  .pipe(z.url({ message: "must be the agent's URL, e.g. https://192.168.1.20:7070" }))
  .refine((u) => /^https?:\/\//.test(u), { message: "must start with http:// or https://" });

/** Step 1's choice of target (a request only: unknown fields are refused). */
export const TargetChoice = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("configured") }),
  z.strictObject({
    kind: z.literal("new"),
    url: httpUrl,
    token: z.string().trim().min(1, { message: "the agent's token is required" }),
    /** The agent's SHA-256 certificate fingerprint (`lifeboat-agent status` prints it); needed for https:// unless LIFEBOAT_AGENT_CA_FILE vouches for it. */
    fingerprint: z.string().trim().optional(),
  }),
]);
export type TargetChoice = z.infer<typeof TargetChoice>;

/**
 * POST /api/restore/runs/:id — one action on the current step. Unknown fields are refused (400), in
 * the target, candidate and include too, so a typo never restores something other than was chosen.
 */
export const RestoreWizardAction = z.discriminatedUnion("action", [
  /** Step 1: choose (or change) the target and read its health. */
  z.strictObject({ action: z.literal("check-target"), target: TargetChoice }),
  /** Any step: read the target's health again. */
  z.strictObject({ action: z.literal("recheck") }),
  /** Step 1 → 2. */
  z.strictObject({ action: z.literal("accept-target") }),
  /** Step 2: run the recovery ladder on a copy of the live database. */
  z.strictObject({ action: z.literal("start-recovery") }),
  /** Step 2 → 3. */
  z.strictObject({
    action: z.literal("choose"),
    candidate: z.discriminatedUnion("kind", [z.strictObject(CANDIDATE_SHAPES.backup), z.strictObject(CANDIDATE_SHAPES.recovery)]),
    include: RestoreInclude.partial().strict().optional(),
  }),
  /** Step 3 → 4: download, decrypt, unpack and verify on the target. */
  z.strictObject({ action: z.literal("stage"), include: RestoreInclude.partial().strict().optional() }),
  /** Step 4 → 5 once the staged backup is verified. */
  z.strictObject({ action: z.literal("verified") }),
  /**
   * Step 5 → 6: the node name typed by the user, and the staged restore the page showed (what was
   * reviewed): refused when another tab has staged again since.
   */
  z.strictObject({
    action: z.literal("confirm"),
    host: z.string().trim().min(1, { message: "type the node name" }),
    restoreId: z.string().min(1).optional(),
  }),
  /** Step 4 or 6 after a failure: stage again / confirm again. */
  z.strictObject({ action: z.literal("retry") }),
  /** Step 6 or 7: put the moved-aside database back. */
  z.strictObject({ action: z.literal("rollback") }),
  /** Step 7: keep the restore (rollback no longer offered). */
  z.strictObject({ action: z.literal("done") }),
  /** Back to an earlier step (before anything on the target changed); drops a staged restore. */
  z.strictObject({ action: z.literal("back"), to: z.enum(["where", "which", "preview"]) }),
  /** Stop here and leave the target as it is; drops a staged restore that changed nothing. */
  z.strictObject({ action: z.literal("abandon") }),
]);
export type RestoreWizardAction = z.infer<typeof RestoreWizardAction>;
