import { describe, it, expect } from "vitest";
import { parseEnv, ConfigError } from "./env";

describe("parseEnv", () => {
  it("has defaults that work with nothing set", () => {
    const env = parseEnv({});
    expect(env.PORT).toBe(3000);
    expect(env.AWS_S3_BUCKET).toBeUndefined();
    expect(env.LIFEBOAT_GROWTH_WARNING).toBe(1.25);
  });
  it("names the variable that is wrong", () => {
    expect(() => parseEnv({ AWS_S3_ENDPOINT: "not a url", AWS_S3_BUCKET: "b" })).toThrow(/AWS_S3_ENDPOINT/);
    expect(() => parseEnv({ AWS_S3_ENDPOINT: "http://x:9000" })).toThrow(/AWS_S3_BUCKET/);
    expect(() => parseEnv({ LIFEBOAT_AGENT_URL: "http://x:7070" })).toThrow(ConfigError);
    expect(() => parseEnv({ LIFEBOAT_AGENT_TOKEN_FILE: "/nonexistent/token" })).toThrow(/LIFEBOAT_AGENT_TOKEN_FILE/);
  });
  it("never puts the secret in its message", () => {
    try {
      parseEnv({ AWS_ACCESS_KEY_ID: "AKIA123" });
      expect.unreachable();
    } catch (e) {
      expect(String(e)).not.toContain("AKIA123");
    }
  });
  it("takes an empty value (`PORT=` in .env) as unset: the default, not 0 (a random port) or the working directory", () => {
    const defaults = parseEnv({}) as unknown as Record<string, unknown>;
    for (const name of [
      "LIFEBOAT_DATA_DIR",
      "PORT",
      "LIFEBOAT_HOST",
      "AWS_DEFAULT_REGION",
      "LIFEBOAT_REFRESH_SECONDS",
      "LIFEBOAT_RECONCILE_SECONDS",
      "LIFEBOAT_GROWTH_WARNING",
      "LIFEBOAT_GROWTH_CRITICAL",
      "LIFEBOAT_SHRINK_CRITICAL",
      "LIFEBOAT_GAP_WARNING",
      "LIFEBOAT_STALE_CRITICAL",
      "LIFEBOAT_HEALTH_POLL_SECONDS",
      "LIFEBOAT_AGENT_DOWN_MINUTES",
      "LIFEBOAT_COMPACTION_LAG_WARNING",
      "LIFEBOAT_WAL_WARNING_MB",
      "LIFEBOAT_ALERT_RESOLVE_MINUTES",
      "LIFEBOAT_AUTH",
      "LIFEBOAT_PROXY_USER_HEADER",
      "LIFEBOAT_PROXY_GROUPS_HEADER",
      "LIFEBOAT_SESSION_IDLE_SECONDS",
      "LIFEBOAT_SESSION_MAX_SECONDS",
    ])
      for (const blank of ["", "  "]) {
        const env = parseEnv({ [name]: blank }) as unknown as Record<string, unknown>;
        expect({ name, value: env[name], dataDir: env.dataDir }, JSON.stringify(blank)).toEqual({ name, value: defaults[name], dataDir: defaults.dataDir });
      }
    expect(parseEnv({ LIFEBOAT_ALERT_RESOLVE_MINUTES: "0" }).LIFEBOAT_ALERT_RESOLVE_MINUTES).toBe(0);
  });
});
