import type { AlertName } from "../../contracts/alerts";

/** What each built-in alert means and what to do, in words: the Alerts pages and docs/alerts.md say the same. */
export const ALERT_DESCRIPTIONS: Record<AlertName, { title: string; means: string; todo: string }> = {
  LifeboatBackupGrowth: {
    title: "Backups grew",
    means:
      "The newest backup of a kind is at least LIFEBOAT_GROWTH_WARNING (warning) or LIFEBOAT_GROWTH_CRITICAL (critical) times the median of the previous 7. In the incident, backups grew 54 → 80 → 228 MB while kine's compaction was stuck and the database rotted.",
    todo: "Open the set's page: its flags, statistics and drill say what grew. Check the live database's compaction lag (Restore → Where) and k3s's log for \"Compact failed\".",
  },
  LifeboatBackupShrink: {
    title: "A backup shrank",
    means:
      "The newest backup of a kind is empty or at most LIFEBOAT_SHRINK_CRITICAL times the median of the previous 7: a truncated or partial backup looks like this.",
    todo: "Open the set's page and its restore drill; check the backup job's log. Do not rely on this set until a drill verified it.",
  },
  LifeboatBackupGap: {
    title: "A backup was missed",
    means: "The newest backup arrived more than LIFEBOAT_GAP_WARNING times the usual interval after the one before it.",
    todo: "Check why the backup job did not run that night (CronJob history, the agent's schedule, the node's uptime).",
  },
  LifeboatBackupStale: {
    title: "Backups stopped",
    means: "The newest backup is older than LIFEBOAT_STALE_CRITICAL times the usual interval: no backup is arriving.",
    todo: "Check the backup job (the agent's schedule, or the CronJob) and the store's credentials; run a backup now.",
  },
  LifeboatRestoreDrillFailed: {
    title: "A restore drill failed",
    means: "The newest backup whose restore drill finished could not be downloaded, decrypted, unpacked or verified: it may not restore.",
    todo: "Open the set's page for the drill's reason; fix the cause (passphrase, damaged archive) and run Verify now.",
  },
  LifeboatBackupJobFailed: {
    title: "A backup job failed",
    means: "The agent's last backup failed and none succeeded since. Nothing from that run counts as a backup.",
    todo: "Read the failure below, fix it (passphrase, store, disk space) and back up now.",
  },
  LifeboatAgentUnreachable: {
    title: "The agent does not answer",
    means: "The dashboard could not reach the agent (or the agent refused its token) for longer than LIFEBOAT_AGENT_DOWN_MINUTES.",
    todo: "Check that `lifeboat-agent serve` runs on the server (systemctl status lifeboat-agent), its port and the token.",
  },
  LifeboatAgentStateDirUnusable: {
    title: "The agent cannot use its state directory",
    means:
      "The agent answers, but its health check cannot run (health_unavailable): LIFEBOAT_STATE_DIR cannot be listed or written (permissions, a read-only or failing disk, a file in its place). Backups, restores and health checks all work there, so none of them can run; the database's own alerts keep their last state meanwhile.",
    todo: "Read the reason in the alert's summary, then fix LIFEBOAT_STATE_DIR on the server (owner, mode, mount, disk errors in `dmesg`) and check `lifeboat-agent health`.",
  },
  LifeboatDatabaseCheckFailed: {
    title: "The live database is damaged",
    means: "The live kine database fails PRAGMA quick_check or integrity_check, SQLite cannot open it, or it holds no kine table (emptied, or not k3s's).",
    todo: "Run `lifeboat-agent recover` on the server (it works on a copy), then restore the best result or the newest good backup.",
  },
  LifeboatOwnerModeDrift: {
    title: "Owner or mode drifted",
    means: "k3s's database files are not owned by LIFEBOAT_OWNER or have other modes (in the incident they were pi:pi).",
    todo: "Run the fix command shown (chown / chmod) as root.",
  },
  LifeboatCompactionLag: {
    title: "Compaction is stuck",
    means:
      "kine's compaction lag is above LIFEBOAT_COMPACTION_LAG_WARNING revisions, or rose over the last three backups' manifests: the database keeps growing.",
    todo: 'Check k3s\'s log for "Compact failed" (slow storage makes compaction time out); restarting k3s retries it.',
  },
  LifeboatWalTooLarge: {
    title: "The WAL is too large",
    means: "The live database's write-ahead log is larger than LIFEBOAT_WAL_WARNING_MB: checkpoints are not completing.",
    todo: "A long-running reader blocks checkpoints; restarting k3s checkpoints the WAL.",
  },
  LifeboatRestoreSpaceLow: {
    title: "No room to stage a restore",
    means: "The free space where restores stage (LIFEBOAT_STATE_DIR) is below what restoring the live database needs.",
    todo: "Free disk space, or point LIFEBOAT_STATE_DIR at a disk with room on the server dir's filesystem.",
  },
  LifeboatLogLag: {
    title: "Continuous protection is falling behind",
    means:
      "The newest revision the agent shipped to the store is older than six log intervals (at least a minute): a restore to a point cannot reach the last minutes. The store may refuse the segments (they wait in the agent's spool) or the agent cannot read the database.",
    todo: "Read the problem on the Backups page's protection line (or GET /continuous on the agent); check the store's credentials and that the agent runs.",
  },
  LifeboatLogGrowth: {
    title: "The log's daily bytes grew",
    means:
      "Continuous protection shipped at least LIFEBOAT_GROWTH_WARNING (warning) or LIFEBOAT_GROWTH_CRITICAL (critical) times the median of the previous 7 days' bytes — on the last whole day, or already on the day in progress. kine is writing much more than usual: a controller rewriting objects in a loop, or stuck compaction; the log's storage grows with it.",
    todo: "Open the restore wizard's point-in-time timeline to see which objects change; check the live database's compaction lag and k3s's log for \"Compact failed\".",
  },
  LifeboatLogShrink: {
    title: "The log's daily bytes shrank",
    means:
      "Continuous protection shipped at most LIFEBOAT_SHRINK_CRITICAL times the median of the previous 7 days' bytes on the last whole day: kine wrote far less than usual, so k3s may have been stopped or failing for part of the day.",
    todo: "Check that the cluster is up and writing (the Nodes page, `systemctl status k3s`) and the agent's log.",
  },
  LifeboatCatalogUnavailable: {
    title: "The store cannot be listed",
    means: "The catalog cannot list the backup store: it does not answer, refuses the credentials, or the bucket is missing.",
    todo: "Check AWS_S3_ENDPOINT, AWS_S3_BUCKET and the credentials; the Backups page's banner has the store's words.",
  },
};
