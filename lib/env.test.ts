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
});
