import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import nextEnv from "@next/env";
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

describe("the guide's settings blocks", () => {
  // Pasted into .env (read by @next/env) or /etc/lifeboat-dashboard/dashboard.env (systemd's
  // EnvironmentFile=, which keeps an inline "# …" as part of the value and takes the rest of the line
  // as one value), a block must mean what it says: one variable per line, comments on their own lines.
  const doc = readFileSync(path.join(import.meta.dirname, "../docs/guide.md"), "utf8");
  const blocks = [...doc.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]).filter((b) => /^LIFEBOAT_[A-Z_]+=/m.test(b));

  it("has such blocks", () => expect(blocks.length).toBeGreaterThanOrEqual(3));

  for (const block of blocks)
    it(block.split("\n")[0], () => {
      const systemd = Object.fromEntries(
        block
          .split("\n")
          .map((l) => l.trim())
          .filter((l) => l && !l.startsWith("#"))
          .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1).trim()]),
      );
      const dir = mkdtempSync(path.join(tmpdir(), "lifeboat-guide-env-"));
      try {
        writeFileSync(path.join(dir, ".env"), block);
        const before = new Set(Object.keys(process.env));
        let dotenv: Record<string, string>;
        try {
          dotenv = (nextEnv.loadEnvConfig(dir, false, { info: () => {}, error: () => {} }, true).parsedEnv ?? {}) as Record<string, string>;
        } finally {
          for (const k of Object.keys(process.env)) if (!before.has(k)) delete process.env[k];
        }
        expect(dotenv).toEqual(systemd);
        for (const [name, value] of Object.entries(systemd))
          expect({ name, value }).toMatchObject({ name: expect.stringMatching(/^[A-Z][A-Z0-9_]*$/), value: expect.not.stringMatching(/\s/) });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
});
