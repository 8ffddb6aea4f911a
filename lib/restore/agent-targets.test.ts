import { existsSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../db/database";
import { makeAgentTargets } from "./agent-targets";

/**
 * A new machine's agent token in lifeboat.db (issue 10): the file and directory are private, and once
 * the run forgets the token no copy is left in the database file or its WAL.
 */
describe("a new machine's agent token", () => {
  it("lives in a 0600 file in a 0700 directory and leaves no copy behind once forgotten", () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), "lifeboat-targets-")), "data");
    const db = openDatabase(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of ["lifeboat.db", "lifeboat.db-wal", "lifeboat.db-shm"])
      if (existsSync(path.join(dir, f))) expect(statSync(path.join(dir, f)).mode & 0o777).toBe(0o600);
    const targets = makeAgentTargets(db, () => null);
    const token = "new-machine-token-" + "q".repeat(30);
    // Other rows written around it, as a real database has: the token's page is shared and rewritten.
    for (let i = 0; i < 50; i++) db.prepare("INSERT INTO kv (key, value) VALUES (?, ?)").run(`k${i}`, "v".repeat(200));
    const target = targets.addNew("https://127.0.0.1:7070", token, "AB".repeat(32));
    expect(target.fingerprint).toBe("AB:".repeat(32).slice(0, -1));
    const bytes = () =>
      Buffer.concat(["lifeboat.db", "lifeboat.db-wal"].filter((f) => existsSync(path.join(dir, f))).map((f) => readFileSync(path.join(dir, f))));
    expect(bytes().includes(Buffer.from(token))).toBe(true);
    targets.forget(target);
    expect(bytes().includes(Buffer.from(token))).toBe(false);
    db.close();
  });

  it("must be long enough, over HTTPS or to this machine, and with a well-formed fingerprint", () => {
    const db = openDatabase(path.join(mkdtempSync(path.join(tmpdir(), "lifeboat-targets-")), "data"));
    const targets = makeAgentTargets(db, () => null);
    const token = "t".repeat(32);
    expect(() => targets.addNew("https://10.0.0.2:7070", "short", undefined)).toThrow(/shorter than 32/);
    expect(() => targets.addNew("http://10.0.0.2:7070", token, undefined)).toThrow(/plain HTTP to another machine/);
    expect(() => targets.addNew("https://10.0.0.2:7070", token, "not-a-fingerprint")).toThrow(/not a SHA-256 fingerprint/);
    expect(makeAgentTargets(db, () => null, { allowInsecureHttp: true }).addNew("http://10.0.0.2:7070", token).url).toBe("http://10.0.0.2:7070");
  });
});
