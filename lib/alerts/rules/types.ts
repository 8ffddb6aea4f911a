import type { AlertName, AlertSeverity } from "../../contracts/alerts";
import type { Anomaly, Verification } from "../../contracts/catalog";
import type { ObjectKind, SetFormat } from "../../contracts/backup-names";
import type { HealthReport } from "../../contracts/agent-health";
import type { KineStats } from "../../contracts/manifest";
import { DEFAULT_THRESHOLDS, type AnomalyThresholds } from "../../backups/anomalies";

/**
 * The inputs and outputs of the alert rules. Rules are plain functions over these plain values (no
 * I/O, no clock of their own), so a test builds an input and reads the alerts; lib/alerts/alert-service.ts
 * gathers the input from the catalog, the drills and the agent, and stores what the rules decide.
 */

/** A backup set as the rules see it (the catalog's CatalogSet carries these fields). */
export interface RuleSet {
  id: string;
  format: SetFormat;
  /** ISO time of the set (from its object names). */
  timestamp: string;
  /** `lastModified`: when the store received the object (the catalog's sets have it). */
  objects: readonly { kind: ObjectKind; size: number; lastModified?: string }[];
  missing: readonly ObjectKind[];
  anomalies: readonly Anomaly[];
}

/** The statistics a Lifeboat set's manifest recorded (for "what grew" and the compaction trend). */
export interface ManifestFacts {
  setId: string;
  timestamp: string;
  stats: KineStats;
}

/** The catalog as the rules see it. */
export interface CatalogInput {
  /** False when no store is configured: no backup alerts at all. */
  configured: boolean;
  /** Every set, newest first, with the anomalies the catalog flagged (the last good listing when the store fails). */
  sets: readonly RuleSet[];
  /**
   * The sets are a cold start's listing still under way (pages so far, not the store's state): the
   * rules over sets cannot judge, so their alerts keep their state. Absent: false.
   */
  partial?: boolean;
  /** The last refresh's failure, when it failed. */
  error: { failure: string; message: string; at: string } | null;
  /** When the store was last listed successfully. */
  refreshedAt: string | null;
  refreshIntervalMs: number;
  /** Restore-drill results by set id. */
  verifications: ReadonlyMap<string, Verification>;
  /**
   * Manifests of the newest complete Lifeboat sets, newest first (up to 3; fewer when unread or absent):
   * the compaction trend and "what grew".
   */
  manifests: readonly ManifestFacts[];
  /**
   * The first line of the growth explanation of a set (issue 14's explanations), by set id. When
   * present it leads the growth alert's summary; absent until that feature lands.
   */
  explanationLine?: (setId: string) => string | null;
}

/** What the dashboard knows about the agent. */
export interface AgentInput {
  configured: boolean;
  /** The agent's address, for summaries (never its token). */
  url: string | null;
  /** The newest health report (null before the first successful poll). */
  health: HealthReport | null;
  /** True when the newest poll got a report (false: the last one failed; `health` is older). */
  healthFresh: boolean;
  /** Since when polls fail to reach the agent; null while it answers. */
  unreachableSince: string | null;
  /** Why the last poll failed, in words. */
  lastError: string | null;
  /** The error code of the last poll's failure (`health_unavailable`: the agent answered, its check could not run); null while polls succeed. */
  lastErrorCode?: string | null;
  /** The agent's record of its last backups (null when it could not be read: the rule keeps its state). */
  backups: { lastSuccessAt: string | null; lastFailureAt: string | null; lastFailureError: string | null } | null;
}

/** Thresholds and where links point. */
export interface RuleConfig {
  /** Agent unreachable for longer than this → LifeboatAgentUnreachable. */
  agentDownMs: number;
  /** Compaction lag (revisions) above this → LifeboatCompactionLag. */
  compactionLagWarning: number;
  /** Each of the last three manifests' lag must rise by at least this many revisions to count as "rising". */
  compactionRiseMin: number;
  /** WAL bytes above this → LifeboatWalTooLarge. */
  walWarningBytes: number;
  /** A store that cannot be listed is alerted at once for refused credentials or a missing bucket, else after this long. */
  catalogGraceMs: number;
  /**
   * A firing alert resolves only once its rule has found it clear for this long (every evaluation in
   * between clear; one that fires again starts over): a value hovering around a threshold does not
   * flap. Firing stays immediate. 0: resolve on the first clear evaluation.
   */
  resolveAfterMs: number;
  /** The size rules' thresholds (LIFEBOAT_GROWTH_*, LIFEBOAT_SHRINK_CRITICAL): the log's daily bytes are judged with them. */
  anomalyThresholds: AnomalyThresholds;
}

export const DEFAULT_RULE_CONFIG: RuleConfig = {
  agentDownMs: 10 * 60_000,
  compactionLagWarning: 10_000,
  compactionRiseMin: 1_000,
  walWarningBytes: 100e6,
  catalogGraceMs: 10 * 60_000,
  resolveAfterMs: 15 * 60_000,
  anomalyThresholds: DEFAULT_THRESHOLDS,
};

export interface AlertInput {
  now: Date;
  catalog: CatalogInput;
  agent: AgentInput;
}

/** One alert a rule finds firing. */
export interface AlertCandidate {
  /** Name and scope: one alert per kind, format or node, e.g. `LifeboatBackupGrowth:file-archive`. */
  key: string;
  name: AlertName;
  severity: AlertSeverity;
  summary: string;
  setId: string | null;
  node: string | null;
  /** The dashboard page that explains it. */
  path: string;
}

/**
 * A rule's verdict: the alerts it finds firing, or `known: false` when its input is missing (the
 * agent did not answer, no manifest could be read): then alerts of that rule keep their state.
 */
export interface RuleOutcome {
  name: AlertName;
  known: boolean;
  firing: AlertCandidate[];
}
