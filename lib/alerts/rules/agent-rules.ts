import { describeBytes, describeDuration } from "../../backups/describe";
import type { AlertName } from "../../contracts/alerts";
import type { AlertCandidate, AlertInput, RuleConfig, RuleOutcome } from "./types";
import { compactionRising } from "./catalog-rules";
import { flagLogDays } from "../../backups/log-anomalies";

/**
 * The rules over what the agent reports: its last backups, whether it answers, and the live
 * database's health (GET /health, polled every LIFEBOAT_HEALTH_POLL_SECONDS). Pure. When the agent
 * did not answer the newest poll, the health rules are `known: false`: their alerts keep their state
 * (an agent that went away is its own alert, not a reason to call the database healthy).
 */

const n = (x: number) => x.toLocaleString("en-US");
const alertPath = (key: string) => `/alerts/${encodeURIComponent(key)}`;
const unknown = (name: AlertName): RuleOutcome => ({ name, known: false, firing: [] });
const none = (name: AlertName): RuleOutcome => ({ name, known: true, firing: [] });

function one(name: AlertName, severity: AlertCandidate["severity"], summary: string, node: string | null): AlertCandidate {
  return { key: name, name, severity, summary, setId: null, node, path: alertPath(name) };
}

/** LifeboatBackupJobFailed: the agent's last backup failed and none succeeded since. */
export function backupJobRule(input: AlertInput): RuleOutcome {
  const a = input.agent;
  if (!a.configured) return none("LifeboatBackupJobFailed");
  if (!a.backups) return unknown("LifeboatBackupJobFailed");
  const { lastFailureAt, lastSuccessAt, lastFailureError } = a.backups;
  if (!lastFailureAt || (lastSuccessAt && Date.parse(lastSuccessAt) >= Date.parse(lastFailureAt))) return none("LifeboatBackupJobFailed");
  return {
    name: "LifeboatBackupJobFailed",
    known: true,
    firing: [
      one(
        "LifeboatBackupJobFailed",
        "critical",
        `The agent's backup at ${lastFailureAt.slice(0, 16).replace("T", " ")} UTC failed: ${lastFailureError ?? "no reason recorded."}${lastSuccessAt ? "" : " No backup by this agent has succeeded yet."}`,
        a.health?.host ?? null,
      ),
    ],
  };
}

/** LifeboatAgentUnreachable: polls have failed for longer than `agentDownMs`. */
export function agentRule(input: AlertInput, cfg: RuleConfig): RuleOutcome {
  const a = input.agent;
  if (!a.configured || !a.unreachableSince) return none("LifeboatAgentUnreachable");
  const down = input.now.getTime() - Date.parse(a.unreachableSince);
  if (down < cfg.agentDownMs) return none("LifeboatAgentUnreachable");
  return {
    name: "LifeboatAgentUnreachable",
    known: true,
    firing: [
      one(
        "LifeboatAgentUnreachable",
        "critical",
        `The agent at ${a.url ?? "(unknown address)"} has not answered for ${describeDuration(down)}: ${a.lastError ?? "no answer"} Backups, health checks and restores on the server need it.`,
        a.health?.host ?? null,
      ),
    ],
  };
}

/**
 * LifeboatAgentStateDirUnusable: the agent answered the newest poll, but its health check could not
 * run (`health_unavailable`: LIFEBOAT_STATE_DIR cannot be used). Unknown while the poll got no answer.
 */
export function stateDirRule(input: AlertInput): RuleOutcome {
  const a = input.agent;
  if (!a.configured || a.healthFresh) return none("LifeboatAgentStateDirUnusable");
  if (a.lastErrorCode !== "health_unavailable") return unknown("LifeboatAgentStateDirUnusable");
  return {
    name: "LifeboatAgentStateDirUnusable",
    known: true,
    firing: [
      one(
        "LifeboatAgentStateDirUnusable",
        "critical",
        `The agent at ${a.url ?? "(unknown address)"} answers but cannot use its state directory: ${a.lastError ?? "its health check could not run."} Backups, restores and health checks cannot run until it is fixed.`,
        a.health?.host ?? null,
      ),
    ],
  };
}

/** Lag beyond which the log counts as falling behind: six intervals, at least a minute (a slow upload is not an alert). */
export function logLagLimitSeconds(intervalSeconds: number): number {
  return Math.max(60, 6 * intervalSeconds);
}

/** LifeboatLogLag: the agent's continuous protection (in its health report) is further behind than logLagLimitSeconds. */
export function logLagRule(input: AlertInput): RuleOutcome {
  const a = input.agent;
  if (!a.configured) return none("LifeboatLogLag");
  const c = a.health?.continuous;
  if (!a.healthFresh || !a.health) return unknown("LifeboatLogLag");
  if (!c || !c.enabled || c.lagSeconds === null || c.lagSeconds <= logLagLimitSeconds(c.intervalSeconds)) return none("LifeboatLogLag");
  return {
    name: "LifeboatLogLag",
    known: true,
    firing: [
      one(
        "LifeboatLogLag",
        "warning",
        `Continuous protection is ${describeDuration(c.lagSeconds * 1000)} behind (revision ${n(c.shippedRevision ?? 0)} is the newest in the store${c.pendingSegments ? `; ${c.pendingSegments} segments wait in the agent's spool` : ""}).${c.problem ? ` ${c.problem}` : ""}`,
        a.health.host,
      ),
    ],
  };
}

/**
 * LifeboatLogGrowth and LifeboatLogShrink: the log's bytes per day (the agent's health report,
 * `continuous.dailyBytes`) judged again here with the dashboard's thresholds — the newest whole day,
 * and growth already past a threshold on the day in progress. The flag's reason is the summary.
 */
export function logBytesRules(input: AlertInput, cfg: RuleConfig): RuleOutcome[] {
  const a = input.agent;
  const names = ["LifeboatLogGrowth", "LifeboatLogShrink"] as const;
  if (!a.configured) return names.map(none);
  if (!a.healthFresh || !a.health) return names.map(unknown);
  const c = a.health.continuous;
  const { current } = c?.enabled ? flagLogDays(c.dailyBytes, cfg.anomalyThresholds) : { current: [] };
  return names.map((name) => {
    const flags = current.filter((f) => (name === "LifeboatLogGrowth" ? f.type === "growth" : f.type === "shrink"));
    if (!flags.length) return none(name);
    // The worst flag speaks: the day in progress's growth may be critical while the last whole day's was a warning.
    const worst = flags.find((f) => f.level === "critical") ?? flags[flags.length - 1];
    return { name, known: true, firing: [one(name, worst.level, `Continuous protection: ${worst.reason}`, a.health!.host)] };
  });
}

/** The health rules: database checks, owner and mode, compaction, WAL, staging space. */
export function healthRules(input: AlertInput, cfg: RuleConfig): RuleOutcome[] {
  const a = input.agent;
  const names: AlertName[] = [
    "LifeboatDatabaseCheckFailed",
    "LifeboatOwnerModeDrift",
    "LifeboatCompactionLag",
    "LifeboatWalTooLarge",
    "LifeboatRestoreSpaceLow",
  ];
  const rising = compactionRising(input.catalog.manifests, cfg.compactionRiseMin);
  if (!a.configured) return names.map(none);
  const h = a.health;
  if (!h || !a.healthFresh) {
    // Without a fresh report only the manifests speak: a rising lag still fires; nothing resolves.
    const out = names.map(unknown);
    if (rising) out[2] = { name: "LifeboatCompactionLag", known: true, firing: [compactionCandidate(input, cfg, null, null)] };
    return out;
  }
  const node = h.host;
  // While a restore is staged or running, the database is being moved and k3s stopped on purpose:
  // what a check sees then is the restore's doing, not news (the alerts keep their state).
  if (h.pendingRestoreId) {
    const out = names.map(unknown);
    if (rising) out[2] = { name: "LifeboatCompactionLag", known: true, firing: [compactionCandidate(input, cfg, null, node)] };
    return out;
  }
  const out: RuleOutcome[] = [];

  const dbProblems: string[] = [];
  if (!h.database.opened) dbProblems.push(`SQLite cannot open ${h.dbPath}: ${h.database.error ?? "unknown error"}`);
  if (h.quickCheck.ran && !h.quickCheck.ok) dbProblems.push(`quick_check found damage: ${h.quickCheck.messages.slice(0, 2).join("; ")}`);
  // A 0-byte or foreign state.db opens and passes quick_check on nothing; k3s would start an empty cluster on it.
  else if (h.database.opened && !h.kine && h.kineError) dbProblems.push(h.kineError);
  if (h.integrityCheck?.ran && !h.integrityCheck.ok)
    dbProblems.push(`integrity_check (${h.integrityCheck.at ?? "last run"}) found damage: ${h.integrityCheck.messages.slice(0, 2).join("; ")}`);
  out.push(
    dbProblems.length
      ? {
          name: "LifeboatDatabaseCheckFailed",
          known: true,
          firing: [
            one(
              "LifeboatDatabaseCheckFailed",
              "critical",
              `The live database on ${node} fails its checks — ${dbProblems.join("; ")}. Run \`lifeboat-agent recover\`, then restore the best result or the newest good backup.`,
              node,
            ),
          ],
        }
      : none("LifeboatDatabaseCheckFailed"),
  );

  const drifted = h.ownership.entries.filter((e) => e.exists && !e.ok);
  const { uid, gid } = h.ownership.expected;
  out.push(
    drifted.length
      ? {
          name: "LifeboatOwnerModeDrift",
          known: true,
          firing: [
            one(
              "LifeboatOwnerModeDrift",
              "warning",
              `Owner or mode of k3s's files on ${node} drifted from LIFEBOAT_OWNER (${uid}:${gid}): ${drifted
                .slice(0, 3)
                .map((e) => e.problem ?? `${e.path} differs`)
                .join(
                  "; ",
                )}${drifted.length > 3 ? `; and ${drifted.length - 3} more` : ""}.${drifted[0].fix ? ` Fix: ${drifted[0].fix}${drifted.length > 1 ? " (and the same for the others)" : ""}.` : ""}`,
              node,
            ),
          ],
        }
      : none("LifeboatOwnerModeDrift"),
  );

  const lag = h.kine?.compactionLag ?? null;
  out.push(
    (lag !== null && lag > cfg.compactionLagWarning) || rising
      ? { name: "LifeboatCompactionLag", known: true, firing: [compactionCandidate(input, cfg, lag, node)] }
      : lag === null && !rising
        ? unknown("LifeboatCompactionLag")
        : none("LifeboatCompactionLag"),
  );

  const wal = h.files.wal.exists ? (h.files.wal.bytes ?? 0) : 0;
  out.push(
    wal > cfg.walWarningBytes
      ? {
          name: "LifeboatWalTooLarge",
          known: true,
          firing: [
            one(
              "LifeboatWalTooLarge",
              "warning",
              `The WAL of the live database on ${node} is ${describeBytes(wal)} (threshold ${describeBytes(cfg.walWarningBytes)}): checkpoints are not completing, often because a long-running reader holds them off. Restarting k3s checkpoints it.`,
              node,
            ),
          ],
        }
      : none("LifeboatWalTooLarge"),
  );

  const d = h.disk;
  out.push(
    !d.enoughForStaging
      ? {
          name: "LifeboatRestoreSpaceLow",
          known: true,
          firing: [
            one(
              "LifeboatRestoreSpaceLow",
              "warning",
              `Only ${describeBytes(d.freeBytes)} free in ${d.stagingDir} on ${node}, where restores stage; restoring this database needs about ${describeBytes(d.neededForStaging)}. Free space before you need a restore.`,
              node,
            ),
          ],
        }
      : none("LifeboatRestoreSpaceLow"),
  );
  return out;
}

function compactionCandidate(input: AlertInput, cfg: RuleConfig, lag: number | null, node: string | null): AlertCandidate {
  const m = input.catalog.manifests;
  const parts: string[] = [];
  if (lag !== null && lag > cfg.compactionLagWarning)
    parts.push(`kine's compaction lag on ${node ?? "the server"} is ${n(lag)} revisions (threshold ${n(cfg.compactionLagWarning)})`);
  if (compactionRising(m, cfg.compactionRiseMin))
    parts.push(
      `it rose over the last three backups (${m
        .slice(0, 3)
        .reverse()
        .map((x) => n(x.stats.compactionLag))
        .join(" → ")})`,
    );
  return one(
    "LifeboatCompactionLag",
    "warning",
    `Compaction appears stuck: ${parts.join("; ")}. The database and its backups keep growing; check k3s's log for "Compact failed".`,
    node,
  );
}
