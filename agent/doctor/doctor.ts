import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { hasErrorCode } from "../../lib/contracts/errors";
import type { BackupSet } from "../../lib/backups/grouping";
import { readPassphrase, type AgentConfig } from "../config";
import type { AgentDeps } from "../module";
import { checkPassphrase } from "../backup/passphrase-check";
import { Cron } from "croner";
import { UTC_SCHEDULE, nextScheduledRun } from "../backup/schedule";
import { listStoreSets } from "../backup/sets";
import { diskSpace } from "../host/disk";
import { k3sState } from "../host/k3s-service";
import { inspectDatastoreOwnership } from "../host/ownership";
import { stagingParent } from "../restore/paths";
import { currentFingerprint } from "../tls/certificate";

/**
 * `lifeboat-agent doctor`: everything a freshly installed server needs before the first night, each
 * problem with the command or setting that fixes it. Reads only; changes nothing on the host or in
 * the store (the passphrase check decrypts the newest set's token archive, a few hundred bytes).
 *
 * "problem": backups or restores will fail (exit 1). "warning": they work, but something is off.
 */

export type DoctorLevel = "ok" | "warning" | "problem";

export interface DoctorCheck {
  id: string;
  level: DoctorLevel;
  /** What was found, as a sentence. */
  message: string;
  /** The command or setting that fixes it; null when there is nothing to fix. */
  fix: string | null;
}

export interface DoctorReport {
  ok: boolean;
  problems: number;
  warnings: number;
  checks: DoctorCheck[];
}

export interface DoctorOptions {
  /** Node's version (default: this process's). */
  nodeVersion?: string;
  /** Whether a command is on PATH (default: `command -v`). */
  hasCommand?: (cmd: string) => boolean;
  now?: Date;
  /** How long the store may take to list its sets, and to hand over the passphrase check's archive (default STORE_TIMEOUT_MS). */
  storeTimeoutMs?: number;
}

const ENV_FILE = "/etc/lifeboat/agent.env";
const MIN_NODE: [number, number] = [20, 9];
const MAX_NODE_MAJOR = 22;
/** With a daily schedule, a newest set older than this means the nights are not happening. */
const STALE_SET_HOURS = 36;
/**
 * A store that accepts the connection and never answers would hold the doctor for minutes (the SDK
 * waits 2 minutes per request, 3 attempts): past this, its check is a problem and the doctor goes on.
 */
const STORE_TIMEOUT_MS = 30_000;
/** A newest set dated further than this after the host's clock means a clock that is (or was) off. */
const CLOCK_AHEAD_MS = 10 * 60_000;

class StoreTimeout extends Error {}

/** `p`, or a StoreTimeout after `ms` (the request itself is left to end; the CLI exits when the report is printed). */
function withinDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreTimeout()), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

const check = (id: string, level: DoctorLevel, message: string, fix: string | null = null): DoctorCheck => ({ id, level, message, fix });
const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));
const defaultHasCommand = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;

/** Summarises checks into a report. Never throws. */
export function report(checks: DoctorCheck[]): DoctorReport {
  const problems = checks.filter((c) => c.level === "problem").length;
  return { ok: problems === 0, problems, warnings: checks.filter((c) => c.level === "warning").length, checks };
}

/** The report when the configuration itself does not load: that one problem, its fix in the message's variable. */
export function configProblemReport(message: string): DoctorReport {
  return report([
    check("config", "problem", message, `Fix that variable in ${ENV_FILE} (README, "Agent configuration"), then run lifeboat-agent doctor again.`),
  ]);
}

function nodeCheck(version: string): DoctorCheck {
  const [major, minor] = version.replace(/^v/, "").split(".").map(Number);
  const tooOld = major < MIN_NODE[0] || (major === MIN_NODE[0] && minor < MIN_NODE[1]);
  const fix =
    "Install Node.js 22 (Debian 13: apt-get install nodejs; Debian 12 and Raspberry Pi OS: NodeSource's nodejs 22.x), then systemctl restart lifeboat-agent.";
  if (tooOld) return check("node", "problem", `Node.js ${version} is too old: the agent needs ${MIN_NODE.join(".")} to ${MAX_NODE_MAJOR}.`, fix);
  if (major > MAX_NODE_MAJOR)
    return check("node", "warning", `Node.js ${version} is newer than the versions the agent is tested on (${MIN_NODE.join(".")} to ${MAX_NODE_MAJOR}).`, fix);
  return check("node", "ok", `Node.js ${version}.`);
}

function secretsChecks(cfg: AgentConfig): DoctorCheck[] {
  const out: DoctorCheck[] = [];
  if (!cfg.agentToken)
    out.push(
      check(
        "token",
        "problem",
        "No agent token: `serve` refuses to start without one.",
        `Set LIFEBOAT_AGENT_TOKEN_FILE=/etc/lifeboat/agent-token in ${ENV_FILE} (deploy/install-agent.sh makes one), and give the dashboard the same token.`,
      ),
    );
  else out.push(check("token", "ok", "The agent token is set (32 characters or more)."));
  if (cfg.insecureHttp)
    out.push(
      check(
        "tls",
        "warning",
        "LIFEBOAT_AGENT_INSECURE_HTTP=true: the agent answers plain HTTP, and the token crosses the network in clear.",
        `Remove LIFEBOAT_AGENT_INSECURE_HTTP from ${ENV_FILE} and pin the certificate's fingerprint on the dashboard.`,
      ),
    );
  else {
    const loose = cfg.tlsKeyFile && existsSync(cfg.tlsKeyFile) && (statSync(cfg.tlsKeyFile).mode & 0o077) !== 0;
    let fp: ReturnType<typeof currentFingerprint> = null;
    try {
      fp = currentFingerprint(cfg);
    } catch (e) {
      out.push(
        check("tls", "problem", errText(e), "Point LIFEBOAT_AGENT_TLS_CERT/_KEY at a readable PEM pair, or remove both to let `serve` make a self-signed one."),
      );
    }
    if (cfg.tlsCertFile && !fp && !out.some((c) => c.id === "tls"))
      out.push(
        check(
          "tls",
          "problem",
          `LIFEBOAT_AGENT_TLS_CERT names ${cfg.tlsCertFile}, which does not exist.`,
          "Run deploy/install-agent.sh again (it makes the pair), or fix the path.",
        ),
      );
    else if (loose) out.push(check("tls", "problem", `The TLS key ${cfg.tlsKeyFile} is readable by other users.`, `chmod 600 ${cfg.tlsKeyFile}`));
    else if (!out.some((c) => c.id === "tls"))
      out.push(
        check(
          "tls",
          "ok",
          fp
            ? `HTTPS with ${fp.certFile}; the dashboard pins LIFEBOAT_AGENT_FINGERPRINT=${fp.fingerprint}.`
            : "HTTPS with a self-signed certificate `serve` makes at its first start (lifeboat-agent status prints its fingerprint then).",
        ),
      );
  }
  if (cfg.passphraseFile && existsSync(cfg.passphraseFile) && (statSync(cfg.passphraseFile).mode & 0o077) !== 0)
    out.push(check("passphrase-file", "problem", `The passphrase file ${cfg.passphraseFile} is readable by other users.`, `chmod 600 ${cfg.passphraseFile}`));
  return out;
}

async function k3sChecks(cfg: AgentConfig): Promise<DoctorCheck[]> {
  if (!existsSync(cfg.serverDir))
    return [
      check(
        "k3s-server-dir",
        "problem",
        `k3s's server directory ${cfg.serverDir} does not exist: is this the k3s server?`,
        `Run the agent on the k3s server, or set LIFEBOAT_K3S_SERVER_DIR in ${ENV_FILE} (default /var/lib/rancher/k3s/server).`,
      ),
    ];
  const out: DoctorCheck[] = [check("k3s-server-dir", "ok", `k3s's server directory is ${cfg.serverDir}.`)];
  const bad = inspectDatastoreOwnership(cfg).filter((e) => !e.ok);
  for (const e of bad)
    out.push(
      check(
        "ownership",
        "problem",
        e.exists ? `${e.problem} (LIFEBOAT_OWNER=${cfg.owner.uid}:${cfg.owner.gid}).` : `${e.problem}: k3s with its SQLite datastore keeps it there.`,
        e.fix ??
          (e.exists
            ? null
            : `Check LIFEBOAT_K3S_SERVER_DIR, and that k3s runs with its default SQLite datastore (not etcd or an external database) — only that is backed up.`),
      ),
    );
  if (!bad.length) out.push(check("ownership", "ok", `The database files are owned by ${cfg.owner.uid}:${cfg.owner.gid} with modes 0700/0600.`));
  const k3s = await k3sState(cfg.k3sStatusCmd, cfg.dbPath);
  if (!k3s.present)
    out.push(
      check(
        "k3s",
        "warning",
        `"${cfg.k3sStatusCmd}" does not know k3s.`,
        `Set LIFEBOAT_K3S_STATUS_CMD, _STOP_CMD and _START_CMD in ${ENV_FILE} to how this host runs k3s.`,
      ),
    );
  else if (!k3s.running)
    out.push(check("k3s", "warning", `k3s is ${k3s.state} ("${cfg.k3sStatusCmd}").`, "systemctl start k3s (unless you stopped it on purpose)."));
  else out.push(check("k3s", "ok", "k3s is running."));
  try {
    // The WAL too, as the health check counts it: a restore stages what the database holds with it.
    const size = (p: string) => (existsSync(p) ? statSync(p).size : 0);
    const dbBytes = size(cfg.dbPath) + size(`${cfg.dbPath}-wal`);
    const disk = await diskSpace(await stagingParent(cfg), cfg.serverDir, dbBytes);
    const gb = (b: number) => (b >= 1e9 ? `${(b / 1e9).toFixed(1)} GB` : `${Math.ceil(b / 1e6)} MB`);
    if (!disk.enoughForStaging)
      out.push(
        check(
          "disk",
          "problem",
          `Only ${gb(disk.freeBytes)} free in ${disk.stagingDir}; a restore stages about ${gb(disk.neededForStaging)} there.`,
          `Free space on that filesystem (journalctl --vacuum-size=100M, old images: k3s crictl rmi --prune), or move LIFEBOAT_STATE_DIR to the server dir's filesystem.`,
        ),
      );
    else out.push(check("disk", "ok", `${gb(disk.freeBytes)} free in ${disk.stagingDir} (a restore stages about ${gb(disk.neededForStaging)}).`));
  } catch (e) {
    out.push(check("disk", "warning", `Free space could not be read: ${errText(e)}.`, null));
  }
  return out;
}

function toolsCheck(has: (cmd: string) => boolean): DoctorCheck[] {
  const tools = [
    { cmd: "sqlite3", pkg: "sqlite3", why: "the `.dump` rung of `lifeboat-agent recover` (a damaged database)" },
    { cmd: "gpg", pkg: "gnupg", why: "opening an archive by hand (README, “Break-glass restore”)" },
    { cmd: "zstd", pkg: "zstd", why: "opening an archive by hand (README, “Break-glass restore”)" },
  ];
  const missing = tools.filter((t) => !has(t.cmd));
  if (!missing.length) return [check("tools", "ok", "sqlite3, gpg and zstd are installed.")];
  return missing.map((t) => check("tools", "warning", `${t.cmd} is not installed; it is needed for ${t.why}.`, `apt-get install -y ${t.pkg}`));
}

async function storeChecks(deps: AgentDeps, now: Date, timeoutMs: number): Promise<DoctorCheck[]> {
  const cfg = deps.config;
  if (!cfg.s3 && !cfg.backupDir)
    return [
      check(
        "store",
        "problem",
        "No backup store is configured.",
        `Set AWS_S3_BUCKET (with AWS_S3_ENDPOINT, AWS_S3_PATH, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY — the CronJob's backup-secret) or LIFEBOAT_BACKUP_DIR in ${ENV_FILE}.`,
      ),
    ];
  const where = cfg.s3 ? `s3://${cfg.s3.bucket}${cfg.s3.prefix ? "/" + cfg.s3.prefix : ""}${cfg.s3.endpoint ? ` at ${cfg.s3.endpoint}` : ""}` : cfg.backupDir!;
  let sets: BackupSet[];
  try {
    sets = (await withinDeadline(listStoreSets(deps.store()), timeoutMs)).sets;
  } catch (e) {
    if (e instanceof StoreTimeout)
      return [
        check(
          "store",
          "problem",
          `The store ${where} did not answer within ${Math.round(timeoutMs / 1000)} s.`,
          `Check that this host reaches the endpoint (a firewall or proxy that accepts connections but forwards nothing looks like this) and the AWS_S3_* values in ${ENV_FILE}.`,
        ),
      ];
    return [
      check(
        "store",
        "problem",
        `The store ${where} cannot be listed with these credentials: ${errText(e)}`,
        `Check the AWS_S3_* values in ${ENV_FILE} (endpoint, bucket, keys; the agent needs list, get, put and delete) and that this host reaches the endpoint.`,
      ),
    ];
  }
  const out = [check("store", "ok", `The store ${where} answers: ${sets.length} set${sets.length === 1 ? "" : "s"}.`)];
  let passphrase: string | null = null;
  try {
    passphrase = readPassphrase(cfg);
  } catch (e) {
    out.push(
      check(
        "passphrase",
        "problem",
        errText(e),
        `Put the backup passphrase on the first line of /etc/lifeboat/passphrase (mode 0600) and set LIFEBOAT_PASSPHRASE_FILE to it.`,
      ),
    );
  }
  const invisible = passphrase === null ? null : invisibleInPassphrase(passphrase);
  if (invisible)
    out.push(
      check(
        "passphrase-file",
        "warning",
        `The first line of ${cfg.passphraseFile} ${invisible}: gpg --passphrase-file and the agent both take it as part of the passphrase, so archives open with this file but not with the passphrase typed by hand.`,
        "Keep it if your earlier backups were made with this file as it is. Otherwise save the file with the passphrase alone on its first line and Unix line endings.",
      ),
    );
  if (passphrase !== null) {
    try {
      const what = await withinDeadline(checkPassphrase(deps.store(), sets, passphrase), timeoutMs);
      out.push(
        what.startsWith("no earlier backup")
          ? check("passphrase", "ok", `The passphrase file is readable; ${what}.`)
          : what.startsWith("the passphrase opens the newest")
            ? check("passphrase", "ok", `The passphrase opens the newest set (${sets[0].id}).`)
            : // Newer archives could not be read at all (empty, cut): the check went on to older ones, or could not tell.
              check(
                "passphrase",
                "warning",
                `${what[0].toUpperCase()}${what.slice(1)}.`,
                "Run a restore drill of the newest set to see what is wrong with it.",
              ),
      );
    } catch (e) {
      out.push(
        hasErrorCode(e, "wrong_passphrase")
          ? check(
              "passphrase",
              "problem",
              `The passphrase in ${cfg.passphraseFile} does not open the newest set (${sets[0]?.id}): backups would be made with a passphrase your earlier ones do not share.`,
              "Put the passphrase of your earlier backups in the passphrase file (the seed job's /etc/backup/gpg-passphrase). Changed it on purpose? The next backup needs --allow-new-passphrase.",
            )
          : check(
              "passphrase",
              "warning",
              `The passphrase could not be checked against the newest set: ${e instanceof StoreTimeout ? `the store did not hand over its archive within ${Math.round(timeoutMs / 1000)} s` : errText(e)}`,
              null,
            ),
      );
    }
  }
  // A set dated after this host's clock stays "the newest" until real time passes it: newer sets then
  // look older, growth is judged on the wrong set and stopped backups look fresh.
  if (sets.length && sets[0].time.getTime() - now.getTime() > CLOCK_AHEAD_MS) {
    const hours = Math.round((sets[0].time.getTime() - now.getTime()) / 3_600_000);
    out.push(
      check(
        "clock",
        "warning",
        `The newest set (${sets[0].id}) is dated ${hours} hours after this host's clock (${now.toISOString()}): the clock is off now, or was when that set was made. Until that time passes, it counts as the newest backup, so a stopped backup job looks fresh.`,
        'Check the clock with timedatectl (it should say "System clock synchronized: yes"; systemctl restart systemd-timesyncd). A set made with a clock that was ahead can be deleted once newer sets exist.',
      ),
    );
  }
  if (cfg.schedule && sets.length) {
    const hours = (now.getTime() - sets[0].time.getTime()) / 3_600_000;
    if (hours > STALE_SET_HOURS)
      out.push(
        check(
          "newest-set",
          "warning",
          `The newest set (${sets[0].id}) is ${Math.round(hours)} hours old.`,
          "Look at the agent's log (journalctl -u lifeboat-agent) for the last scheduled backups, or run one now: lifeboat-agent backup",
        ),
      );
  }
  return out;
}

function scheduleChecks(cfg: AgentConfig): DoctorCheck[] {
  const fix = `Set LIFEBOAT_BACKUP_SCHEDULE in ${ENV_FILE} to five cron fields in UTC (like the CronJob: 0 0 * * *), or off when a timer or CronJob runs lifeboat-agent backup.`;
  try {
    const next = nextScheduledRun(cfg.schedule);
    if (!next)
      return [
        check(
          "schedule",
          "warning",
          "LIFEBOAT_BACKUP_SCHEDULE=off: `serve` makes no backups by itself.",
          `If no timer or CronJob runs lifeboat-agent backup, set LIFEBOAT_BACKUP_SCHEDULE=0 0 * * * (UTC, like the CronJob) in ${ENV_FILE}.`,
        ),
      ];
    return [check("schedule", "ok", `Scheduled backups: "${cfg.schedule}" (UTC), next at ${next.toISOString()}.`)];
  } catch (e) {
    return [check("schedule", "problem", errText(e), fix)];
  }
}

/**
 * LIFEBOAT_INTEGRITY_SCHEDULE: `serve` only logs an expression croner refuses, and one that never
 * comes just never fires; either way the full integrity_check (the only check that compares indexes
 * with their tables) never runs. Nothing to say when it is valid or off.
 */
function integrityScheduleCheck(cfg: AgentConfig): DoctorCheck[] {
  const expr = cfg.integritySchedule;
  if (!expr) return [];
  let problem: string | null = null;
  try {
    const cron = new Cron(expr, { paused: true, ...UTC_SCHEDULE });
    if (!cron.nextRun()) problem = `"${expr}" never comes (no date matches it)`;
    cron.stop();
  } catch (e) {
    problem = `"${expr}" is not a cron expression (${errText(e)})`;
  }
  if (!problem) return [];
  return [
    check(
      "integrity-schedule",
      "warning",
      `LIFEBOAT_INTEGRITY_SCHEDULE: ${problem}, so \`serve\` never runs the full integrity_check and damage only it finds goes unnoticed.`,
      `Set LIFEBOAT_INTEGRITY_SCHEDULE=30 3 * * * (five cron fields, UTC) in ${ENV_FILE}, or off, then systemctl restart lifeboat-agent.`,
    ),
  ];
}

/** Runs every check on this host with this configuration. Never throws: what fails is a check. */
export async function runDoctor(deps: AgentDeps, opts: DoctorOptions = {}): Promise<DoctorReport> {
  const cfg = deps.config;
  const checks: DoctorCheck[] = [nodeCheck(opts.nodeVersion ?? process.versions.node)];
  checks.push(...secretsChecks(cfg));
  checks.push(...(await k3sChecks(cfg)));
  checks.push(...toolsCheck(opts.hasCommand ?? defaultHasCommand));
  checks.push(...(await storeChecks(deps, opts.now ?? new Date(), opts.storeTimeoutMs ?? STORE_TIMEOUT_MS)));
  checks.push(...scheduleChecks(cfg));
  checks.push(...integrityScheduleCheck(cfg));
  return report(checks);
}

/** What a passphrase file's first line holds that a person typing the passphrase would not: a Windows line ending, a byte-order mark, spaces at either end. */
function invisibleInPassphrase(p: string): string | null {
  if (p.endsWith("\r")) return "ends with a carriage return (a Windows line ending)";
  if (p.startsWith("\uFEFF")) return "starts with a byte-order mark";
  if (p !== p.trim()) return "begins or ends with spaces";
  return null;
}
