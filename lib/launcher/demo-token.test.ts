import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { demoAgentTokenFile } from "./demo-token";

const dir = () => mkdtempSync(path.join(tmpdir(), "lifeboat-demo-token-"));
const read = (f: string) => readFileSync(f, "utf8").trim();

describe("the demo agent's token file", () => {
  it("is made once (0600) and then kept", () => {
    const d = dir();
    const f = demoAgentTokenFile(d);
    expect(statSync(f).mode & 0o777).toBe(0o600);
    const first = read(f);
    expect(first.length).toBeGreaterThanOrEqual(32);
    expect(read(demoAgentTokenFile(d))).toBe(first);
  });

  for (const [what, content] of [
    ["empty", ""],
    ["cut short", "abc\n"],
  ] as const)
    it(`${what}: made again, so npm start does not stop on the agent's missing token`, () => {
      const d = dir();
      writeFileSync(path.join(d, "agent-token"), content, { mode: 0o644 });
      const f = demoAgentTokenFile(d);
      expect(read(f).length).toBeGreaterThanOrEqual(32);
      expect(statSync(f).mode & 0o777).toBe(0o600);
    });
});
