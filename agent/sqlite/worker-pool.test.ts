import { describe, it, expect, beforeAll, afterAll } from "vitest";
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { idleSqliteWorkers, runOffThread, startSqliteChecker } from "./worker";

/**
 * The verify step's checker takes an idle worker of runOffThread's pool and gives it back when it is
 * done: a drill right after a backup or another drill starts no thread. A checker stopped while it
 * checks does not give back a busy worker (the next task would find it running).
 */

let dir: string;
let file: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "lifeboat-worker-pool-"));
  file = path.join(dir, "t.db");
  const db = new Database(file);
  db.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1), (2);");
  db.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the SQLite worker pool", () => {
  it("a checker reuses an idle worker and gives it back when disposed", async () => {
    await runOffThread({ kind: "check", file, pragma: "integrity_check", limit: 5 });
    const pooled = idleSqliteWorkers();
    expect(pooled).toBeGreaterThanOrEqual(1);
    const checker = startSqliteChecker();
    expect(idleSqliteWorkers()).toBe(pooled - 1);
    expect(await checker.check(file)).toMatchObject({ ok: true });
    checker.dispose();
    checker.dispose();
    expect(idleSqliteWorkers()).toBe(pooled);
  });

  it("a checker disposed while it checks stops its worker instead of pooling it", async () => {
    const before = idleSqliteWorkers();
    const checker = startSqliteChecker();
    const verdict = checker.check(file);
    // The main thread blocks while the pooled worker checks the small file and posts its reply: the
    // reply waits in the queue when dispose runs, as it does when a check ends just as a restore stops.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
    checker.dispose();
    expect(idleSqliteWorkers()).toBe(Math.max(0, before - 1));
    expect((await verdict).ok).toBe(false);
    // The pool still works: a task after it runs on a worker of its own.
    await expect(runOffThread({ kind: "check", file, pragma: "integrity_check", limit: 5 })).resolves.toMatchObject({ ok: true });
  });
});
