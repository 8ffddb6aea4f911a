import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runProcess } from "../lib/process";
import { agentEnvFor, makeDirStoreSet, type DirStoreSet } from "./testing/restore-fixtures";
import { stopGpgAgents } from "./testing/test-server-dir";

/**
 * The installed `lifeboat-agent`, run as its own process, on a working configuration (a directory
 * store with two complete sets, a live database): a command given an option it does not know, or an
 * argument it does not take, is a usage error (exit 2, the sentence and the usage on stderr, nothing
 * on stdout) and does nothing, rather than running as if it had not been given. `retention --dryrun`
 * (a typo for --dry-run) used to delete sets.
 */

const ROOT = path.resolve(import.meta.dirname, "..");
const BIN = path.join(ROOT, "agent/bin/lifeboat-agent.js");

let work: string;
let set: DirStoreSet;
let env: Record<string, string>;

function cli(args: string[], extra: Record<string, string> = {}) {
  return runProcess(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? "/root", ...env, LOG_LEVEL: "warn", ...extra } as unknown as NodeJS.ProcessEnv,
    timeoutMs: 60_000,
  });
}
const objects = () => readdirSync(set.backupDir).sort();
/** Keep the newest set only: retention without --dry-run deletes the other. */
const keepOne = { LIFEBOAT_KEEP_LAST: "1", LIFEBOAT_KEEP_DAILY: "0", LIFEBOAT_KEEP_WEEKLY: "0", LIFEBOAT_KEEP_MONTHLY: "0" };

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-cli-"));
  set = await makeDirStoreSet(work, { seed: 21, marker: "marker-cli", passphrase: "cli test passphrase" });
  env = { ...agentEnvFor(set.source), LIFEBOAT_BACKUP_DIR: set.backupDir, LIFEBOAT_PASSPHRASE_FILE: set.passFile };
  // A second set (a second later: set ids are stamped to the second), so retention has one to delete.
  await new Promise((r) => setTimeout(r, 1100));
  const second = await cli(["backup", "--no-retention"]);
  expect(second.code, second.stderr).toBe(0);
}, 120_000);
afterAll(() => {
  stopGpgAgents();
  rmSync(work, { recursive: true, force: true });
});

describe("lifeboat-agent without a command", () => {
  it("is a usage error: the usage on stderr, exit 2, nothing on stdout", async () => {
    const r = await cli([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("Usage: lifeboat-agent <command> [options]");
  });

  it("--help asked for it: the usage on stdout, exit 0", async () => {
    const r = await cli(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage: lifeboat-agent <command> [options]");
    expect(r.stderr).toBe("");
  });
});

describe("version and help", () => {
  it("version prints the version alone; with an argument it is a usage error", async () => {
    const v = await cli(["version"]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\S+$/);
    const help = await cli(["--version", "--help"]);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toContain("Usage: lifeboat-agent version");
    for (const args of [
      ["version", "--json"],
      ["--version", "extra"],
    ]) {
      const r = await cli(args);
      expect(r.code, JSON.stringify(args)).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain("takes no arguments");
    }
  });

  it("help <command> gives that command's help; help <unknown> is a usage error", async () => {
    const h = await cli(["help", "restore"]);
    expect(h.code, h.stderr).toBe(0);
    const own = await cli(["restore", "--help"]);
    expect(h.stdout).toBe(own.stdout);
    expect(h.stdout).toContain("Usage: ");
    const bad = await cli(["help", "restor"]);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe("");
    expect(bad.stderr).toContain("Usage: lifeboat-agent <command> [options]");
  });
});

describe("a command refuses what it does not take (exit 2, usage on stderr), and does nothing", () => {
  it("the configuration works: list, retention --dry-run and restore --list answer", async () => {
    const list = await cli(["list", "--json"]);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).sets).toHaveLength(2);
    const dry = await cli(["retention", "--dry-run"], keepOne);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/1 kept, 1 would delete/);
    const restores = await cli(["restore", "--list"]);
    expect(restores.code, restores.stderr).toBe(0);
    expect(JSON.parse(restores.stdout)).toEqual({ restores: [] });
  });

  it.each([
    [["list", "--nope"], "Unknown option --nope."],
    [["list", "--json", "extra"], 'Unexpected argument "extra".'],
    [["status", "--jsn"], "Unknown option --jsn."],
    [["stats", "--json"], "Unknown option --json."],
    [["stats", "now"], 'Unexpected argument "now".'],
    [["retention", "--dryrun"], "Unknown option --dryrun."],
    [["retention", "--dry-run", "--jsn"], "Unknown option --jsn."],
    [["retention", "--dry-run", "sets"], 'Unexpected argument "sets".'],
    [["restore", "--list", "--nope"], "Unknown option --nope."],
    [["restore", "--list", "extra"], "--list stands alone"],
    [["restore", "--status", "some-id", "--yes"], "--status stands alone"],
    [["restore", "latest", "--dry-run", "-n"], "Unknown option -n."],
    [["restore", "latest", "other", "--dry-run"], 'Unexpected argument "other" (at most 1).'],
    [["serve", "--port", "8080"], "Unknown option --port."],
    [["doctor", "--verbose"], "Unknown option --verbose."],
    [["backup", "--method=fast"], '--method takes vacuum-into or backup-one-step, not "fast".'],
    [["demo-init", "--data-dir", "/nonexistent/lifeboat-demo", "--force"], "Unknown option --force."],
    [["recover", "/nonexistent/a.db", "/nonexistent/b.db"], 'Unexpected argument "/nonexistent/b.db" (at most 1).'],
    [["recover", "--list", "extra"], "--list stands alone"],
    [["recover", "--show"], "--show needs a value."],
    [["recover", "--compare=latest"], '--compare takes newest, none or a backup set id (lifeboat-2024-12-18_00-00-00), not "latest".'],
    [["recover", "--dry-run"], "Unknown option --dry-run."],
  ])("%j", async (args, message) => {
    const r = await cli(args, keepOne);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain(`Usage: lifeboat-agent ${args[0]}`);
  });

  it("`retention --yes --dryrun` deletes nothing (it ran a real retention, --dryrun unread)", async () => {
    const before = objects();
    const r = await cli(["retention", "--yes", "--dryrun"], keepOne);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Unknown option --dryrun.");
    expect(objects()).toEqual(before);
    expect(JSON.parse((await cli(["list", "--json"])).stdout).sets).toHaveLength(2);
  });
});
