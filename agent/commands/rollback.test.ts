import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runProcess } from "../../lib/process";
import { RestoreRecord } from "../../lib/contracts/agent-restore";
import { agentEnvFor, hasMarker, makeDirStoreSet, makeTestServer, runK3s, treeState, type DirStoreSet, type TestServer } from "../testing/restore-fixtures";
import { stopGpgAgents } from "../testing/test-server-dir";

/**
 * `lifeboat-agent rollback`, the installed bin as its own process, after a real restore (CLI, --yes)
 * onto a server whose simulated k3s runs. A rollback stops k3s and swaps db/ back, so it starts only
 * when asked for: an option it does not know (`--dry-run`, `--list`, `-n`) or a second id is a usage
 * error (it used to pick the newest restore and roll it back), and without --yes it asks on a terminal
 * and, without one, refuses saying to add --yes. Each time the journal, the server's files and the
 * restored database stay as they were; --yes then rolls back.
 */

const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(ROOT, "agent/bin/lifeboat-agent.js");

let work: string;
let set: DirStoreSet;
let t: TestServer;
let env: Record<string, string>;
let restoreId: string;

const fullEnv = () => ({ PATH: process.env.PATH!, HOME: process.env.HOME ?? "/root", ...env, LOG_LEVEL: "warn" }) as unknown as NodeJS.ProcessEnv;
const cli = (args: string[]) => runProcess(process.execPath, [BIN, ...args], { env: fullEnv(), timeoutMs: 120_000 });
const rollback = (args: string[]) => cli(["rollback", ...args]);
const journalFile = () => path.join(env.LIFEBOAT_STATE_DIR, "restores", restoreId, "journal.json");

/** What a rollback would change: the journal, the server dir's files (the database's bytes aside: k3s writes them), which database is in db/. */
const state = () => ({
  journal: readFileSync(journalFile(), "utf8"),
  tree: treeState(t.serverDir, { skipDbContent: true }),
  restoredInPlace: hasMarker(t.dbPath, "marker-A"),
});

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-rollback-cli-"));
  set = await makeDirStoreSet(work, { seed: 31, marker: "marker-A", passphrase: "rollback cli passphrase" });
  t = makeTestServer(path.join(work, "target"), { seed: 32, marker: "marker-T", token: set.source.token });
  env = { ...agentEnvFor(t), LIFEBOAT_BACKUP_DIR: set.backupDir, LIFEBOAT_PASSPHRASE_FILE: set.passFile };
  runK3s(t, "start");
  const restored = await cli(["restore", set.setId, "--yes"]);
  expect(restored.code, restored.stderr).toBe(0);
  const rec = RestoreRecord.parse(JSON.parse(restored.stdout));
  expect(rec).toMatchObject({ status: "succeeded", canRollback: true });
  restoreId = rec.id;
  expect(hasMarker(t.dbPath, "marker-A")).toBe(true);
}, 180_000);
afterAll(() => {
  if (t) runK3s(t, "stop");
  stopGpgAgents();
  rmSync(work, { recursive: true, force: true });
});

describe("lifeboat-agent rollback", () => {
  it.each([
    [["--dry-run"], "Unknown option --dry-run."],
    [["--list"], "Unknown option --list."],
    [["--status"], "Unknown option --status."],
    [["-n"], "Unknown option -n."],
    [["ID", "--force"], "Unknown option --force."],
    [["ID", "ID"], "Unexpected argument"],
  ])("%j is a usage error that rolls nothing back", async (args, message) => {
    const before = state();
    const r = await rollback(args.map((a) => (a === "ID" ? restoreId : a)));
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain("Usage: lifeboat-agent rollback [<restore id>] [--yes]");
    expect(state()).toEqual(before);
    expect(runK3s(t, "status")).toBe("active");
  });

  it("without --yes and without a terminal refuses, saying to add --yes", async () => {
    const before = state();
    const r = await rollback([]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`The newest restore that can be rolled back: ${restoreId}`);
    expect(r.stderr).toContain(
      `Nothing was rolled back: the restored database is still in place. Without a terminal, add --yes: lifeboat-agent rollback ${restoreId} --yes`,
    );
    expect(state()).toEqual(before);
    expect(runK3s(t, "status")).toBe("active");
  });

  it("on a terminal, says what it will do and asks; no rolls nothing back", () => {
    const before = state();
    // `script` gives the command a terminal; the answer "n" waits in it for the question.
    const r = spawnSync("script", ["-qec", `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} rollback ${restoreId}`, "/dev/null"], {
      input: "n\n",
      env: fullEnv(),
      encoding: "utf8",
      timeout: 120_000,
    });
    expect(r.status, r.stdout).toBe(2);
    const said = r.stdout.replace(/\r/g, "");
    expect(said).toContain(`Restore ${restoreId}, from backup set ${set.setId}`);
    const asideDir = JSON.parse(before.journal).asideDir as string;
    expect(said).toContain(
      `Roll it back: stop k3s (\`${env.LIFEBOAT_K3S_STOP_CMD}\`), move the restored db/ aside to db.rolled-back-<ts> (kept), put ${path.basename(asideDir)} back as db/`,
    );
    expect(said).toMatch(/then start k3s \(`.*`\)\? \[y\/N\]/);
    expect(said).toContain("Nothing was rolled back");
    expect(state()).toEqual(before);
  });

  it("--yes rolls back: the previous database is in db/ again, the restored one kept aside", async () => {
    const r = await rollback(["--yes"]);
    expect(r.code, r.stderr).toBe(0);
    expect(RestoreRecord.parse(JSON.parse(r.stdout))).toMatchObject({ id: restoreId, status: "rolled-back" });
    expect(hasMarker(t.dbPath, "marker-T")).toBe(true);
    expect(hasMarker(t.dbPath, "marker-A")).toBe(false);
    const kept = readdirSync(t.serverDir).find((f) => f.startsWith("db.rolled-back-"));
    expect(kept && existsSync(path.join(t.serverDir, kept, "state.db"))).toBe(true);
    expect(runK3s(t, "status")).toBe("active");
  });
});
