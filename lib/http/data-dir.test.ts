import Database from "better-sqlite3";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runProcess } from "../process";
import { freePort } from "../net/ports";
import { dashboardDatabaseProblem } from "./data-dir";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const dataDir = () => {
  const d = path.join(mkdtempSync(path.join(tmpdir(), "lifeboat-data-dir-")), "data");
  mkdirSync(d, { mode: 0o700 });
  return d;
};

describe("the dashboard's database, checked before anything starts", () => {
  it("none yet, or a readable one: no problem", () => {
    const d = dataDir();
    expect(dashboardDatabaseProblem(d)).toBeNull();
    new Database(path.join(d, "lifeboat.db")).exec("CREATE TABLE t (x)");
    expect(dashboardDatabaseProblem(d)).toBeNull();
  });

  it("a file that is not a database: a sentence saying what to do, and the file is left as it was", () => {
    const d = dataDir();
    const bytes = randomBytes(8192);
    writeFileSync(path.join(d, "lifeboat.db"), bytes, { mode: 0o600 });
    expect(dashboardDatabaseProblem(d)).toMatch(/lifeboat\.db cannot be read \(it is not a SQLite database\)\. Nothing was changed\. .* move it aside \(mv /);
    expect(readFileSync(path.join(d, "lifeboat.db")).equals(bytes)).toBe(true);
  });

  it("npm start on it: says so and exits within seconds, before it starts the store, the demo or the dashboard", async () => {
    const d = dataDir();
    const bytes = randomBytes(8192);
    writeFileSync(path.join(d, "lifeboat.db"), bytes, { mode: 0o600 });
    const t0 = Date.now();
    const r = await runProcess(process.execPath, ["--import", "tsx", "lib/launcher/start.ts"], {
      cwd: ROOT,
      env: { ...process.env, LIFEBOAT_DATA_DIR: d, PORT: String(await freePort()), LIFEBOAT_BUILD: "never", AWS_S3_BUCKET: "" },
      timeoutMs: 60_000,
    });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toContain("lifeboat.db cannot be read (it is not a SQLite database). Nothing was changed.");
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(readdirSync(d)).toEqual(["lifeboat.db"]);
    expect(readFileSync(path.join(d, "lifeboat.db")).equals(bytes)).toBe(true);
    expect(existsSync(path.join(d, "s3"))).toBe(false);
  });
});
