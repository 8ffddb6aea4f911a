import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { DomainError } from "./contracts/errors";
import { isLoopbackHost, MAKE_TOKEN_HINT, MIN_AGENT_TOKEN_LENGTH, parseFingerprint } from "./contracts/agent-tls";
import { optStr, orDefault } from "./contracts/env-values";
import { parseAuthConfig, type AuthConfig } from "./auth/config";

const bool = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const t = (v ?? "").trim().toLowerCase();
    if (t === "" || t === "false" || t === "0" || t === "no") return false;
    if (t === "true" || t === "1" || t === "yes") return true;
    ctx.addIssue({ code: "custom", message: "must be true or false" });
    return z.NEVER;
  });
const num = (def: number) => orDefault(z.coerce.number().positive().default(def));

/** Every environment variable the dashboard reads. Documented in README.md and .env.example. */
const EnvSchema = z.object({
  LIFEBOAT_DATA_DIR: orDefault(z.string().default("./data")),
  PORT: orDefault(z.coerce.number().int().min(0).max(65535).default(3000)),
  LIFEBOAT_HOST: orDefault(z.string().default("127.0.0.1")),
  AWS_S3_ENDPOINT: optStr.pipe(z.url({ message: "must be a URL such as https://s3.example.com" }).optional()),
  AWS_S3_BUCKET: optStr,
  AWS_S3_PATH: optStr,
  AWS_ACCESS_KEY_ID: optStr,
  AWS_SECRET_ACCESS_KEY: optStr,
  AWS_DEFAULT_REGION: orDefault(z.string().default("us-east-1")),
  LIFEBOAT_REFRESH_SECONDS: num(300),
  /** How often a catalog refresh lists the whole bucket instead of only what is new (lib/catalog/incremental.ts). */
  LIFEBOAT_RECONCILE_SECONDS: num(3600),
  LIFEBOAT_AGENT_URL: optStr.pipe(z.url({ message: "must be a URL such as https://k3s-server:7070" }).optional()),
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
  /** Set by the launcher when KUBECONFIG points at its demo cluster (lib/launcher/demo-cluster.ts): the banner and the demo join action. */
  LIFEBOAT_DEMO_CLUSTER: optStr,
  /** Alerts (issue 12): how often the agent's health is polled, and the thresholds of the health rules. */
  LIFEBOAT_HEALTH_POLL_SECONDS: num(300),
  LIFEBOAT_AGENT_DOWN_MINUTES: num(10),
  LIFEBOAT_COMPACTION_LAG_WARNING: num(10_000),
  LIFEBOAT_WAL_WARNING_MB: num(100),
  /** A firing alert resolves once its rule has found it clear for this many minutes (0: at once). */
  LIFEBOAT_ALERT_RESOLVE_MINUTES: orDefault(z.coerce.number().nonnegative().default(15)),
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

  // ---- the agent's transport (docs/guide.md: "Agent TLS and pinning") ----
  /** SHA-256 fingerprint of the agent's certificate (`lifeboat-agent status` prints it). */
  LIFEBOAT_AGENT_FINGERPRINT: optStr,
  /** A CA (PEM) that signed the agent's certificate, instead of a fingerprint. */
  LIFEBOAT_AGENT_CA_FILE: optStr,
  /** Allows an http:// agent URL on another machine (the token then crosses the network in clear). */
  LIFEBOAT_AGENT_INSECURE_HTTP: bool,

  // ---- signing in (docs/guide.md: "Signing in and roles", "API tokens", "Single sign-on behind a proxy") ----
  /** The dashboard as people reach it: allowed Host, cookie security, links in notifications; default http://LIFEBOAT_HOST:PORT. */
  LIFEBOAT_PUBLIC_URL: optStr.pipe(z.url({ message: "must be the URL people open, such as https://lifeboat.example.lan" }).optional()),
  LIFEBOAT_ALLOWED_HOSTS: optStr,
  LIFEBOAT_AUTH: orDefault(
    z.enum(["local", "proxy"], { message: 'must be "local" (accounts in lifeboat.db) or "proxy" (a trusted reverse proxy signs people in)' }).default("local"),
  ),
  LIFEBOAT_TRUSTED_PROXIES: optStr,
  LIFEBOAT_PROXY_USER_HEADER: orDefault(z.string().trim().min(1).default("Remote-User")),
  LIFEBOAT_PROXY_GROUPS_HEADER: orDefault(z.string().trim().min(1).default("Remote-Groups")),
  LIFEBOAT_PROXY_ROLES: optStr,
  LIFEBOAT_PROXY_DEFAULT_ROLE: optStr,
  LIFEBOAT_SESSION_IDLE_SECONDS: orDefault(z.coerce.number().int().min(1).default(3600)),
  LIFEBOAT_SESSION_MAX_SECONDS: orDefault(
    z.coerce
      .number()
      .int()
      .min(1)
      .default(12 * 3600),
  ),
  LIFEBOAT_ADMIN_PASSWORD_FILE: optStr,
  LIFEBOAT_API_TOKENS_FILE: optStr,
  /** Set by `npm start` only: a viewer token valid for its run, with which it fills the catalog before saying "ready". */
  LIFEBOAT_LAUNCHER_TOKEN: optStr,
});

export type DashboardEnv = z.infer<typeof EnvSchema> & {
  agentToken?: string;
  /** LIFEBOAT_AGENT_FINGERPRINT in its one printed form. */
  agentFingerprint?: string;
  dataDir: string;
  auth: AuthConfig;
};

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
  if (agentToken && agentToken.length < MIN_AGENT_TOKEN_LENGTH)
    throw new ConfigError(
      `LIFEBOAT_AGENT_TOKEN: shorter than ${MIN_AGENT_TOKEN_LENGTH} characters. Make a new one on the agent's machine (${MAKE_TOKEN_HINT}) and give both the agent and the dashboard the same.`,
    );
  const agentUrl = env.LIFEBOAT_AGENT_URL ? new URL(env.LIFEBOAT_AGENT_URL) : null;
  if (agentUrl && agentUrl.protocol === "http:" && !isLoopbackHost(agentUrl.hostname) && !env.LIFEBOAT_AGENT_INSECURE_HTTP)
    throw new ConfigError(
      `LIFEBOAT_AGENT_URL: plain http:// sends the agent's token across the network in clear, so it is allowed only for an agent on this machine. Use https://${agentUrl.host} with LIFEBOAT_AGENT_FINGERPRINT (\`lifeboat-agent status\` prints it), or set LIFEBOAT_AGENT_INSECURE_HTTP=true to accept the risk.`,
    );
  let agentFingerprint: string | undefined;
  if (env.LIFEBOAT_AGENT_FINGERPRINT) {
    agentFingerprint = parseFingerprint(env.LIFEBOAT_AGENT_FINGERPRINT) ?? undefined;
    if (!agentFingerprint)
      throw new ConfigError("LIFEBOAT_AGENT_FINGERPRINT: not a SHA-256 fingerprint (64 hex digits, colons allowed), as `lifeboat-agent status` prints it");
  }
  if (env.LIFEBOAT_AGENT_CA_FILE) {
    try {
      readFileSync(env.LIFEBOAT_AGENT_CA_FILE, "utf8");
    } catch (e) {
      throw new ConfigError(`LIFEBOAT_AGENT_CA_FILE: cannot read ${env.LIFEBOAT_AGENT_CA_FILE} (${(e as NodeJS.ErrnoException).code})`);
    }
  }
  let auth: AuthConfig;
  try {
    auth = parseAuthConfig(env);
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  return { ...env, agentToken, agentFingerprint, auth, dataDir: path.resolve(env.LIFEBOAT_DATA_DIR) };
}

let cached: DashboardEnv | undefined;
/** The dashboard server's configuration, parsed once. */
export function getEnv(): DashboardEnv {
  cached ??= parseEnv();
  return cached;
}
