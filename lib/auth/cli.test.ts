import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "../db/database";
import { runProcess } from "../process";
import { verifyPassword } from "./passwords";
import { createSession, lookupSession } from "./sessions";
import { findUser } from "./users";

/**
 * The locked-out admin's way back (`npm run users`, lib/auth/cli.ts), run as the operator runs it: a
 * process of its own on a data directory, here from a working directory that is not the checkout
 * (as the release's bundled copy is run), with the data directory from the environment.
 */
const ROOT = path.resolve(import.meta.dirname, "..", "..");
const work = mkdtempSync(path.join(tmpdir(), "lifeboat-users-cli-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const users = (data: string, args: string[]) =>
  runProcess(process.execPath, ["--conditions=react-server", "--import", import.meta.resolve("tsx"), path.join(ROOT, "lib", "auth", "cli.ts"), ...args], {
    cwd: work,
    env: { PATH: process.env.PATH, LIFEBOAT_DATA_DIR: data, NODE_ENV: "production" },
    timeoutMs: 60_000,
  });
const TIMES = { idleMs: 3_600_000, maxMs: 43_200_000 };

describe("the users command", () => {
  it("adds, lists and resets a password: the old sessions end, the new password signs in, and nothing is printed but the generated one", async () => {
    const data = mkdtempSync(path.join(work, "data-"));
    const file = path.join(work, "pw");
    writeFileSync(file, "first password here\n", { mode: 0o600 });
    const add = await users(data, ["add", "alice", "admin", "--password-file", file]);
    expect({ code: add.code, out: add.stdout.trim() }, add.stderr).toEqual({ code: 0, out: "Added alice (admin)." });

    const db = openDatabase(data);
    const alice = findUser(db, "alice")!;
    expect(await verifyPassword("first password here", alice.passwordHash)).toBe(true);
    const session = createSession(db, alice.id, TIMES, "127.0.0.1");
    db.prepare("INSERT INTO login_failures (key, at) VALUES (?, ?)").run("user:alice", Date.now());

    const list = await users(data, ["list"]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^alice\tadmin\t1 session\(s\)$/m);

    const reset = await users(data, ["reset-password", "alice"]);
    expect(reset.code, reset.stderr).toBe(0);
    const printed = reset.stdout.match(/^ {2}(\S+)$/m)?.[1];
    expect(printed, reset.stdout).toBeDefined();
    const after = findUser(db, "alice")!;
    expect(await verifyPassword(printed!, after.passwordHash)).toBe(true);
    expect(await verifyPassword("first password here", after.passwordHash)).toBe(false);
    expect(lookupSession(db, session.id, TIMES)).toBeNull();
    expect(db.prepare("SELECT COUNT(*) AS n FROM login_failures WHERE key = 'user:alice'").get()).toEqual({ n: 0 });
    db.close();
  }, 120_000);

  it("refuses what it cannot do with a sentence and exit status, changing nothing", async () => {
    const data = mkdtempSync(path.join(work, "data-"));
    const nobody = await users(data, ["reset-password", "nobody"]);
    expect({ code: nobody.code, err: nobody.stderr.trim() }).toMatchObject({
      code: 1,
      err: expect.stringMatching(/^There is no user called nobody in .*lifeboat\.db\. See them with: .* list$/),
    });
    const short = path.join(work, "short");
    writeFileSync(short, "short\n");
    const weak = await users(data, ["add", "bob", "viewer", "--password-file", short]);
    expect({ code: weak.code, err: weak.stderr.trim() }).toEqual({ code: 2, err: `The password in ${short} is shorter than 12 characters.` });
    const role = await users(data, ["add", "bob", "root"]);
    expect({ code: role.code, err: role.stderr.trim() }).toEqual({ code: 2, err: "The role must be one of viewer, operator, admin." });
    const usage = await users(data, ["frobnicate"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^Usage: node cli\.ts reset-password <name>/);
    const db = openDatabase(data);
    expect(findUser(db, "bob")).toBeNull();
    db.close();
  }, 120_000);
});
