import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import type { RecoveryReport } from "../../lib/contracts/agent-recovery";
import { makeKineFixture, recoveryCase, type KineFixture, type RecoveryCase } from "../testing/corrupt";
import { startRecoveryJob } from "./ladder";

/**
 * The recovery ladder at its edges: a database with no kine rows is not "nothing to recover". Real
 * SQLite files.
 */

let work: string;
let fixture: KineFixture;
let template: string;

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-rec-limits-"));
  template = path.join(work, "template.db");
  fixture = makeKineFixture(template, { targetBytes: 2_000_000, seed: 8 });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

let n = 0;
const freshCase = (): RecoveryCase => recoveryCase(path.join(work, `case-${++n}`), template, fixture.token);

describe("a database with no kine rows is not intact", () => {
  for (const [what, make, said] of [
    ["a 0-byte state.db", (f: string) => writeFileSync(f, ""), "state.db is empty (0 bytes)"],
    [
      "a SQLite file without a kine table",
      (f: string) => {
        rmSync(f);
        const db = new Database(f);
        db.exec("CREATE TABLE t(x); INSERT INTO t VALUES (1)");
        db.close();
      },
      "state.db holds no kine table",
    ],
  ] as const)
    it(`${what}: integrity fails, every rung runs, the backup is checked and named`, async () => {
      const c = freshCase();
      make(c.dbPath);
      const job = await startRecoveryJob(c.deps, { compareWith: { kind: "file", path: template } }).done;
      expect(job.state, job.error ?? "").toBe("succeeded");
      const report = job.result as RecoveryReport;
      expect(report.recommendation).not.toMatch(/nothing to recover/);
      expect(report.rungs.find((x) => x.name === "integrity")).toMatchObject({
        state: "failed",
        error: `${said}: it passes integrity_check, but holds no k3s data.`,
      });
      expect(report.rungs.find((x) => x.name === "salvage")!.state).not.toBe("skipped");
      expect(report.best).toBeNull();
      const compare = report.rungs.find((x) => x.name === "compare")!;
      expect(compare.state).toBe("ok");
      expect(compare.note).toBe(
        `database file ${template} passes integrity_check and holds ${fixture.rows.toLocaleString("en-US")} rows; no rung recovered a database to compare it with.`,
      );
      expect(report.recommendation).toBe(
        `${said}, so no rung can get kine's rows back from it: restore the newest good backup: database file ${template}, which passes integrity_check.`,
      );
    });
});
