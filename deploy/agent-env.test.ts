import { describe, it, expect, afterAll } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseConfigFile } from "../agent/config";

/**
 * deploy/agent.env is read three ways: by systemd (EnvironmentFile=), by the agent itself
 * (LIFEBOAT_AGENT_CONFIG, parseConfigFile) and by a shell, as the README's and install-agent.sh's
 * `set -a; . /etc/lifeboat/agent.env; lifeboat-agent doctor` does. All must read the same values:
 * an unquoted `0 0 * * *` ran `0` as a command in sh and left the schedule unset, so doctor checked
 * another schedule than the service ran.
 */

const FILE = path.resolve(import.meta.dirname, "agent.env");
const work = mkdtempSync(path.join(tmpdir(), "lifeboat-agentenv-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** What `sh` sets from `file` with `set -a; . file` (and what it says on stderr). */
function sourced(file: string): { vars: Record<string, string>; stderr: string } {
  const out = execFileSync("sh", ["-c", 'set -a; . "$1" 2>"$2"; env -0', "sh", file, path.join(work, "stderr")], {
    env: { NODE_ENV: "test" },
    encoding: "utf8",
  });
  const vars = Object.fromEntries(
    out
      .split("\0")
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  );
  return { vars, stderr: readFileSync(path.join(work, "stderr"), "utf8") };
}

describe("deploy/agent.env reads the same in a shell as in the agent", () => {
  const text = readFileSync(FILE, "utf8");
  // Its commented-out examples too: an operator uncomments them.
  const uncommented = text.replace(/^#([A-Z][A-Z0-9_]*=)/gm, "$1");

  for (const [what, body] of [
    ["as shipped", text],
    ["with every example uncommented", uncommented],
  ] as const)
    it(what, () => {
      const file = path.join(work, what.replace(/\W+/g, "-"));
      writeFileSync(file, body);
      const expected = parseConfigFile(body);
      expect(Object.keys(expected).length).toBeGreaterThan(3);
      const { vars, stderr } = sourced(file);
      expect(stderr).toBe("");
      for (const [k, v] of Object.entries(expected)) expect({ k, v: vars[k] }).toEqual({ k, v });
    });
});
