import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { DomainError } from "../lib/contracts/errors";
import { MAKE_TOKEN_HINT, MIN_AGENT_TOKEN_LENGTH } from "../lib/contracts/agent-tls";
import { optStr, orDefault } from "../lib/contracts/env-values";

const count = (def: number) => orDefault(z.coerce.number().int().min(0).default(def));

/** Every variable the agent reads (README: "Agent configuration"). A config file may set the same names. */
const AgentEnvSchema = z.object({
  LIFEBOAT_K3S_SERVER_DIR: orDefault(z.string().default("/var/lib/rancher/k3s/server")),
  LIFEBOAT_PASSPHRASE_FILE: optStr,
  AWS_S3_ENDPOINT: optStr.pipe(z.url({ message: "must be a URL such as https://s3.example.com" }).optional()),
  AWS_S3_BUCKET: optStr,
  AWS_S3_PATH: optStr,
  AWS_ACCESS_KEY_ID: optStr,
  AWS_SECRET_ACCESS_KEY: optStr,
  AWS_DEFAULT_REGION: orDefault(z.string().default("us-east-1")),
  /** A local directory used as the backup store instead of S3 (e.g. a mounted NAS). */
  LIFEBOAT_BACKUP_DIR: optStr,
  LIFEBOAT_AGENT_TOKEN: optStr,
  LIFEBOAT_AGENT_TOKEN_FILE: optStr,
  LIFEBOAT_AGENT_HOST: orDefault(z.string().default("0.0.0.0")),
  LIFEBOAT_AGENT_PORT: orDefault(z.coerce.number().int().min(0).max(65535).default(7070)),
  /** The certificate and key `serve` answers HTTPS with (PEM); without them it makes a self-signed pair once. */
  LIFEBOAT_AGENT_TLS_CERT: optStr,
  LIFEBOAT_AGENT_TLS_KEY: optStr,
  /** Plain HTTP instead of HTTPS: the token then crosses the network in clear. */
  LIFEBOAT_AGENT_INSECURE_HTTP: optStr.pipe(z.enum(["true", "false", "1", "0", "yes", "no"], { message: "must be true or false" }).optional()),
  /** Directories (separated by ":") whose files a restore requested over HTTP may read; the CLI reads any file. */
  LIFEBOAT_RESTORE_FILE_DIRS: optStr,
  /** Cron expression for scheduled backups; "off" disables the schedule. Default: daily at 00:00 like the seed. */
  LIFEBOAT_BACKUP_SCHEDULE: orDefault(z.string().default("0 0 * * *")),
  LIFEBOAT_KEEP_LAST: count(7),
  LIFEBOAT_KEEP_DAILY: count(7),
  LIFEBOAT_KEEP_WEEKLY: count(4),
  LIFEBOAT_KEEP_MONTHLY: count(6),
  /** Expected owner of the database files, "uid:gid". */
  LIFEBOAT_OWNER: orDefault(
    z
      .string()
      .regex(/^\d+:\d+$/, { message: 'must be "uid:gid" in numbers, e.g. 0:0' })
      .default("0:0"),
  ),
  LIFEBOAT_K3S_STOP_CMD: orDefault(z.string().default("systemctl stop k3s")),
  LIFEBOAT_K3S_START_CMD: orDefault(z.string().default("systemctl start k3s")),
  /** How long a restore waits, after the stop command returned, for every process to let go of the database. */
  LIFEBOAT_K3S_STOP_WAIT_SECONDS: orDefault(z.coerce.number().int().min(1).default(60)),
  /** Prints k3s's service state ("active", "inactive", …) for health checks and restores. */
  LIFEBOAT_K3S_STATUS_CMD: orDefault(z.string().default("systemctl is-active k3s")),
  /** Cron expression for the full PRAGMA integrity_check of the live database; "off" disables it. */
  LIFEBOAT_INTEGRITY_SCHEDULE: orDefault(z.string().default("30 3 * * *")),
  /** Largest archive content a restore unpacks (bytes, all files together); bigger archives are refused. */
  LIFEBOAT_RESTORE_MAX_BYTES: orDefault(
    z.coerce
      .number()
      .int()
      .positive()
      .default(2 * 1024 ** 3),
  ),
  /** A job (backup, drill, restore, recovery) that makes no progress for this many seconds fails as stalled; 0 never. */
  LIFEBOAT_JOB_STALL_SECONDS: orDefault(z.coerce.number().int().min(0).default(120)),
  /** Continuous protection: ship kine's new rows every this many seconds (docs/continuous.md); 0 turns it off. */
  LIFEBOAT_LOG_INTERVAL_SECONDS: orDefault(z.coerce.number().int().min(0).default(10)),
  /** Continuous protection: fold each closed window of this many hours of segments into one compacted object (docs/continuous.md); 0 never. */
  LIFEBOAT_LOG_COMPACT_HOURS: orDefault(z.coerce.number().min(0).default(6)),
  /** Continuous protection: once a span of this many hours has ended, its compacted windows fold again into one (docs/continuous.md); 0 never. */
  LIFEBOAT_LOG_FOLD_HOURS: orDefault(z.coerce.number().min(0).default(24)),
  /** Continuous protection: write a checkpoint of the open window every this many minutes (docs/continuous.md); 0 never. */
  LIFEBOAT_LOG_CHECKPOINT_MINUTES: orDefault(z.coerce.number().min(0).default(5)),
  /** The agent's own state: restore journals, staging, salvage output. Must be on the same filesystem as the server dir. */
  LIFEBOAT_STATE_DIR: optStr,
  /** Optional file with KEY=VALUE lines (environment variables win over it). */
  LIFEBOAT_AGENT_CONFIG: optStr,
  LOG_LEVEL: orDefault(z.string().default("info")),
});

type AgentEnv = z.infer<typeof AgentEnvSchema>;

export interface AgentConfig {
  serverDir: string;
  dbPath: string;
  tokenPath: string;
  passphraseFile?: string;
  s3?: { endpoint?: string; bucket: string; prefix?: string; region: string; accessKeyId?: string; secretAccessKey?: string };
  backupDir?: string;
  agentToken?: string;
  host: string;
  port: number;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** LIFEBOAT_AGENT_INSECURE_HTTP: serve plain HTTP. */
  insecureHttp: boolean;
  /** Absolute directories whose files an HTTP restore request may name (LIFEBOAT_RESTORE_FILE_DIRS). */
  restoreFileDirs: string[];
  schedule: string | null;
  retention: { keepLast: number; keepDaily: number; keepWeekly: number; keepMonthly: number };
  owner: { uid: number; gid: number };
  k3sStopCmd: string;
  /** LIFEBOAT_K3S_STOP_WAIT_SECONDS in milliseconds. */
  k3sStopWaitMs: number;
  k3sStartCmd: string;
  k3sStatusCmd: string;
  integritySchedule: string | null;
  restoreMaxBytes: number;
  /** LIFEBOAT_JOB_STALL_SECONDS in milliseconds (0: never). */
  jobStallMs: number;
  /** LIFEBOAT_LOG_INTERVAL_SECONDS in milliseconds (0: continuous protection off). */
  logIntervalMs: number;
  /** LIFEBOAT_LOG_COMPACT_HOURS (0: log compaction off). */
  logCompactHours: number;
  /** LIFEBOAT_LOG_FOLD_HOURS (0, or not above logCompactHours: no second level). */
  logFoldHours: number;
  /** LIFEBOAT_LOG_CHECKPOINT_MINUTES (0, or log compaction off: no checkpoints). */
  logCheckpointMinutes: number;
  stateDir: string;
  logLevel: string;
}

/** Thrown when configuration is invalid or missing (`not_configured`); the message names the variable and what to do. */
export class AgentConfigError extends DomainError {
  constructor(message: string) {
    super("not_configured", message);
  }
}

/** Reads KEY=VALUE lines (blank lines and # comments allowed, optional quotes). */
export function parseConfigFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    out[m[1]] = m[2].replace(/^(['"])(.*)\1$/, "$2");
  }
  return out;
}

/**
 * Parses the agent's configuration from the environment (and LIFEBOAT_AGENT_CONFIG when set).
 * Throws AgentConfigError naming the variable. Never reads the passphrase itself (see readPassphrase).
 */
export function loadAgentConfig(source: Record<string, string | undefined> = process.env): AgentConfig {
  let merged: Record<string, string | undefined> = source;
  const file = source.LIFEBOAT_AGENT_CONFIG?.trim();
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new AgentConfigError(`LIFEBOAT_AGENT_CONFIG: cannot read ${file} (${(e as NodeJS.ErrnoException).code})`);
    }
    merged = { ...parseConfigFile(text), ...source };
  }
  const res = AgentEnvSchema.safeParse(merged);
  if (!res.success) {
    throw new AgentConfigError(`Invalid agent configuration:\n  ${res.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("\n  ")}`);
  }
  const e: AgentEnv = res.data;
  if (e.AWS_S3_ENDPOINT && !e.AWS_S3_BUCKET) throw new AgentConfigError("AWS_S3_BUCKET: required when AWS_S3_ENDPOINT is set");
  if (Boolean(e.AWS_ACCESS_KEY_ID) !== Boolean(e.AWS_SECRET_ACCESS_KEY))
    throw new AgentConfigError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: set both or neither");
  let agentToken = e.LIFEBOAT_AGENT_TOKEN;
  if (!agentToken && e.LIFEBOAT_AGENT_TOKEN_FILE) {
    try {
      agentToken = readFileSync(e.LIFEBOAT_AGENT_TOKEN_FILE, "utf8").trim();
    } catch (err) {
      throw new AgentConfigError(`LIFEBOAT_AGENT_TOKEN_FILE: cannot read ${e.LIFEBOAT_AGENT_TOKEN_FILE} (${(err as NodeJS.ErrnoException).code})`);
    }
  }
  if (agentToken && agentToken.length < MIN_AGENT_TOKEN_LENGTH)
    throw new AgentConfigError(
      `LIFEBOAT_AGENT_TOKEN: shorter than ${MIN_AGENT_TOKEN_LENGTH} characters, so anyone could guess it. Make one with \`${MAKE_TOKEN_HINT}\` and give the dashboard the same.`,
    );
  if (Boolean(e.LIFEBOAT_AGENT_TLS_CERT) !== Boolean(e.LIFEBOAT_AGENT_TLS_KEY))
    throw new AgentConfigError(
      "LIFEBOAT_AGENT_TLS_CERT and LIFEBOAT_AGENT_TLS_KEY: set both or neither (without them the agent makes a self-signed certificate)",
    );
  const restoreFileDirs = (e.LIFEBOAT_RESTORE_FILE_DIRS ?? "")
    .split(":")
    .map((d) => d.trim())
    .filter(Boolean);
  for (const d of restoreFileDirs)
    if (!path.isAbsolute(d)) throw new AgentConfigError(`LIFEBOAT_RESTORE_FILE_DIRS: "${d}" is not an absolute directory (separate several with ":")`);
  const schedule = e.LIFEBOAT_BACKUP_SCHEDULE.trim().toLowerCase() === "off" ? null : e.LIFEBOAT_BACKUP_SCHEDULE.trim();
  const [uid, gid] = e.LIFEBOAT_OWNER.split(":").map(Number);
  const serverDir = path.resolve(e.LIFEBOAT_K3S_SERVER_DIR);
  return {
    serverDir,
    dbPath: path.join(serverDir, "db", "state.db"),
    tokenPath: path.join(serverDir, "token"),
    passphraseFile: e.LIFEBOAT_PASSPHRASE_FILE,
    s3: e.AWS_S3_BUCKET
      ? {
          endpoint: e.AWS_S3_ENDPOINT,
          bucket: e.AWS_S3_BUCKET,
          prefix: e.AWS_S3_PATH,
          region: e.AWS_DEFAULT_REGION,
          accessKeyId: e.AWS_ACCESS_KEY_ID,
          secretAccessKey: e.AWS_SECRET_ACCESS_KEY,
        }
      : undefined,
    backupDir: e.LIFEBOAT_BACKUP_DIR,
    agentToken,
    host: e.LIFEBOAT_AGENT_HOST,
    port: e.LIFEBOAT_AGENT_PORT,
    tlsCertFile: e.LIFEBOAT_AGENT_TLS_CERT,
    tlsKeyFile: e.LIFEBOAT_AGENT_TLS_KEY,
    insecureHttp: ["true", "1", "yes"].includes(e.LIFEBOAT_AGENT_INSECURE_HTTP ?? ""),
    restoreFileDirs: restoreFileDirs.map((d) => path.resolve(d)),
    schedule,
    retention: { keepLast: e.LIFEBOAT_KEEP_LAST, keepDaily: e.LIFEBOAT_KEEP_DAILY, keepWeekly: e.LIFEBOAT_KEEP_WEEKLY, keepMonthly: e.LIFEBOAT_KEEP_MONTHLY },
    owner: { uid, gid },
    k3sStopCmd: e.LIFEBOAT_K3S_STOP_CMD,
    k3sStopWaitMs: e.LIFEBOAT_K3S_STOP_WAIT_SECONDS * 1000,
    k3sStartCmd: e.LIFEBOAT_K3S_START_CMD,
    k3sStatusCmd: e.LIFEBOAT_K3S_STATUS_CMD,
    integritySchedule: e.LIFEBOAT_INTEGRITY_SCHEDULE.trim().toLowerCase() === "off" ? null : e.LIFEBOAT_INTEGRITY_SCHEDULE.trim(),
    restoreMaxBytes: e.LIFEBOAT_RESTORE_MAX_BYTES,
    jobStallMs: e.LIFEBOAT_JOB_STALL_SECONDS * 1000,
    logIntervalMs: e.LIFEBOAT_LOG_INTERVAL_SECONDS * 1000,
    logCompactHours: e.LIFEBOAT_LOG_COMPACT_HOURS,
    logFoldHours: e.LIFEBOAT_LOG_FOLD_HOURS,
    logCheckpointMinutes: e.LIFEBOAT_LOG_CHECKPOINT_MINUTES,
    stateDir: path.resolve(e.LIFEBOAT_STATE_DIR ?? path.join(path.dirname(serverDir), "lifeboat")),
    logLevel: e.LOG_LEVEL,
  };
}

/**
 * Reads the encryption passphrase from LIFEBOAT_PASSPHRASE_FILE. Throws AgentConfigError (without the
 * passphrase in it) when unset, unreadable or empty.
 */
export function readPassphrase(cfg: Pick<AgentConfig, "passphraseFile">): string {
  if (!cfg.passphraseFile)
    throw new AgentConfigError(
      "LIFEBOAT_PASSPHRASE_FILE: not set. Point it at a file holding the backup passphrase (like the seed job's /etc/backup/gpg-passphrase).",
    );
  let bytes: Buffer;
  try {
    bytes = readFileSync(cfg.passphraseFile);
  } catch (e) {
    throw new AgentConfigError(
      `LIFEBOAT_PASSPHRASE_FILE: cannot read ${cfg.passphraseFile} (${(e as NodeJS.ErrnoException).code}). Create it with the backup passphrase, mode 0400.`,
    );
  }
  // gpg --passphrase-file takes the first line up to its "\n", byte for byte: a "\r" before it (a
  // file saved with Windows line endings) and spaces are part of the passphrase. The agent takes
  // exactly that, so that the archives it writes open with `gpg --passphrase-file` and the same file,
  // and the seed job's open with the agent.
  const nl = bytes.indexOf(0x0a);
  let first: string;
  try {
    first = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(nl < 0 ? bytes : bytes.subarray(0, nl));
  } catch {
    throw new AgentConfigError(
      `LIFEBOAT_PASSPHRASE_FILE: the first line of ${cfg.passphraseFile} is not UTF-8 text. Save the passphrase as UTF-8 (the agent's OpenPGP encodes passphrases as UTF-8, so the archives would not open with gpg and this file).`,
    );
  }
  if (!first.trim()) throw new AgentConfigError(`LIFEBOAT_PASSPHRASE_FILE: ${cfg.passphraseFile} is empty. Put the backup passphrase on its first line.`);
  return first;
}
