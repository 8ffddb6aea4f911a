import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { DomainError } from "./contracts/errors";

const num = (def: number) => z.coerce.number().positive().default(def);
const optStr = z
  .string()
  .optional()
  .transform((v) => (v && v.trim() !== "" ? v.trim() : undefined));

/** Every environment variable the dashboard reads. Documented in README.md and .env.example. */
const EnvSchema = z.object({
  LIFEBOAT_DATA_DIR: z.string().default("./data"),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  LIFEBOAT_HOST: z.string().default("127.0.0.1"),
  AWS_S3_ENDPOINT: optStr.pipe(z.url({ message: "must be a URL such as https://s3.example.com" }).optional()),
  AWS_S3_BUCKET: optStr,
  AWS_S3_PATH: optStr,
  AWS_ACCESS_KEY_ID: optStr,
  AWS_SECRET_ACCESS_KEY: optStr,
  AWS_DEFAULT_REGION: z.string().default("us-east-1"),
  LIFEBOAT_REFRESH_SECONDS: num(300),
  LIFEBOAT_AGENT_URL: optStr.pipe(z.url({ message: "must be a URL such as http://k3s-server:7070" }).optional()),
  LIFEBOAT_AGENT_TOKEN: optStr,
  LIFEBOAT_AGENT_TOKEN_FILE: optStr,
  /** Anomaly thresholds (ratios to the median of the previous backups / intervals). */
  LIFEBOAT_GROWTH_WARNING: num(1.25),
  LIFEBOAT_GROWTH_CRITICAL: num(2),
  LIFEBOAT_SHRINK_CRITICAL: num(0.5),
  LIFEBOAT_GAP_WARNING: num(1.5),
  LIFEBOAT_STALE_CRITICAL: num(1.5),
  KUBECONFIG: optStr,
  /** A copy of the k3s server's join token (/var/lib/rancher/k3s/server/node-token); read only when a person reveals it. */
  LIFEBOAT_K3S_TOKEN_FILE: optStr,
  /** The server URL new workers join, when the kubeconfig's server address is not reachable from them. */
  LIFEBOAT_K3S_URL: optStr.pipe(z.url({ message: "must be a URL such as https://192.168.1.11:6443" }).optional()),
  /** Set by the launcher when it started the embedded demo store. */
  LIFEBOAT_DEMO: optStr,
  /** Alerts (issue 12): how often the agent's health is polled, and the thresholds of the health rules. */
  LIFEBOAT_HEALTH_POLL_SECONDS: num(300),
  LIFEBOAT_AGENT_DOWN_MINUTES: num(10),
  LIFEBOAT_COMPACTION_LAG_WARNING: num(10_000),
  LIFEBOAT_WAL_WARNING_MB: num(100),
  /** Where links in notifications point (the dashboard as people reach it); default http://LIFEBOAT_HOST:PORT. */
  LIFEBOAT_PUBLIC_URL: optStr.pipe(z.url({ message: "must be a URL such as https://lifeboat.example.com" }).optional()),
  /** Notification channels from the environment (lib/notify/env-channels.ts). */
  LIFEBOAT_WEBHOOK_URL: optStr,
  LIFEBOAT_WEBHOOK_SECRET: optStr,
  LIFEBOAT_SLACK_WEBHOOK_URL: optStr,
  LIFEBOAT_DISCORD_WEBHOOK_URL: optStr,
  LIFEBOAT_NTFY_URL: optStr,
  LIFEBOAT_NTFY_TOKEN: optStr,
  LIFEBOAT_GOTIFY_URL: optStr,
  LIFEBOAT_GOTIFY_TOKEN: optStr,
  LIFEBOAT_SMTP_URL: optStr,
  LIFEBOAT_SMTP_FROM: optStr,
  LIFEBOAT_SMTP_TO: optStr,
  LIFEBOAT_SMTP_SECURITY: optStr,
  LIFEBOAT_PING_URL: optStr,
});

export type DashboardEnv = z.infer<typeof EnvSchema> & { agentToken?: string; dataDir: string };

/**
 * Thrown when a variable is invalid; the message names the variable. A DomainError (`config`, 500),
 * so a route that meets it answers with that sentence. No `server-only` here: the launcher
 * (plain Node) parses the same environment before it starts Next.js.
 */
export class ConfigError extends DomainError {
  constructor(message: string) {
    super("config", message);
  }
}

/** Parses and validates the dashboard's environment. Throws ConfigError naming the bad variable. */
export function parseEnv(source: Record<string, string | undefined> = process.env): DashboardEnv {
  const res = EnvSchema.safeParse(source);
  if (!res.success) {
    const lines = res.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n  ${lines.join("\n  ")}`);
  }
  const env = res.data;
  if (env.AWS_S3_ENDPOINT && !env.AWS_S3_BUCKET) throw new ConfigError("AWS_S3_BUCKET: required when AWS_S3_ENDPOINT is set");
  if (Boolean(env.AWS_ACCESS_KEY_ID) !== Boolean(env.AWS_SECRET_ACCESS_KEY))
    throw new ConfigError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: set both or neither");
  let agentToken = env.LIFEBOAT_AGENT_TOKEN;
  if (!agentToken && env.LIFEBOAT_AGENT_TOKEN_FILE) {
    try {
      agentToken = readFileSync(env.LIFEBOAT_AGENT_TOKEN_FILE, "utf8").trim();
    } catch (e) {
      throw new ConfigError(`LIFEBOAT_AGENT_TOKEN_FILE: cannot read ${env.LIFEBOAT_AGENT_TOKEN_FILE} (${(e as NodeJS.ErrnoException).code})`);
    }
  }
  if (env.LIFEBOAT_AGENT_URL && !agentToken)
    throw new ConfigError("LIFEBOAT_AGENT_TOKEN: required when LIFEBOAT_AGENT_URL is set (or use LIFEBOAT_AGENT_TOKEN_FILE)");
  return { ...env, agentToken, dataDir: path.resolve(env.LIFEBOAT_DATA_DIR) };
}

let cached: DashboardEnv | undefined;
/** The dashboard server's configuration, parsed once. */
export function getEnv(): DashboardEnv {
  cached ??= parseEnv();
  return cached;
}
