import { describe, it, expect } from "vitest";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openDatabase, audit, readAudit, migrate } from "./database";
import { wizardRuns } from "./wizard-runs";

const tmp = () => mkdtempSync(path.join(tmpdir(), "lifeboat-db-"));

describe("dashboard database", () => {
  it("is readable by its owner only: it holds notification secrets", () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), "lifeboat-db-mode-")), "data");
    const db = openDatabase(dir);
    db.prepare("INSERT INTO kv (key, value) VALUES ('k', 'v')").run();
    for (const f of ["lifeboat.db", "lifeboat.db-wal", "lifeboat.db-shm"]) expect(statSync(path.join(dir, f)).mode & 0o777, f).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    db.close();
  });

  it("applies migrations once and survives reopening", () => {
    const dir = tmp();
    const db = openDatabase(dir);
    const n = db.prepare("SELECT COUNT(*) FROM schema_migrations").pluck().get() as number;
    expect(n).toBeGreaterThan(0);
    db.close();
    const again = openDatabase(dir);
    expect(again.prepare("SELECT COUNT(*) FROM schema_migrations").pluck().get()).toBe(n);
    again.close();
  });

  it("rolls back a failing migration and records nothing for it", () => {
    const db = openDatabase(tmp());
    expect(() => migrate(db, [{ id: 999, name: "broken", sql: "CREATE TABLE t999 (x); SELECT * FROM nope;" }])).toThrow();
    expect(db.prepare("SELECT COUNT(*) FROM schema_migrations WHERE id = 999").pluck().get()).toBe(0);
    expect(db.prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 't999'").pluck().get()).toBe(0);
  });

  it("keeps an audit log newest first, filterable by action prefix", () => {
    const db = openDatabase(tmp());
    audit(db, "worker.cordon", "pi-2", "ok");
    audit(db, "restore.swap", "pi-1", "failed", { reason: "disk full" });
    expect(readAudit(db).map((e) => e.action)).toEqual(["restore.swap", "worker.cordon"]);
    expect(readAudit(db, { actionPrefix: "worker." })).toHaveLength(1);
    // The prefix is text, not a LIKE pattern: `%` and `_` match only themselves, and case counts.
    for (const prefix of ["%", "_orker.", "WORKER.", "%.swap"]) expect(readAudit(db, { actionPrefix: prefix }), prefix).toEqual([]);
    expect(readAudit(db)[0].detail).toEqual({ reason: "disk full" });
  });

  it("saves wizard runs so they can be resumed", () => {
    const dir = tmp();
    const db = openDatabase(dir);
    const run = wizardRuns.create(db, "restore", "where", { agent: "local" });
    wizardRuns.update(db, run.id, { step: "which", state: { agent: "local", set: "seed-x" } });
    db.close();
    const db2 = openDatabase(dir);
    const resumed = wizardRuns.active<{ set: string }>(db2, "restore");
    expect(resumed?.step).toBe("which");
    expect(resumed?.state.set).toBe("seed-x");
  });
});
