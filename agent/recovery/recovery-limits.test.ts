import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import type { RecoveryReport } from "../../lib/contracts/agent-recovery";
import { pidRecord } from "../../lib/storage/pid-record";
import { btreePages, makeKineFixture, overwritePage, recoveryCase, type KineFixture, type RecoveryCase } from "../testing/corrupt";
import { startRecoveryJob } from "./ladder";
import { listReports, loadReport, recoveryBestPath, RECOVERIES_KEPT } from "./store";

/**
 * The recovery ladder where the server's disk is the limit: room checked before anything is copied,
 * a ladder that stops (a full disk, a file size limit) leaves no copies and a report that says why,
 * only results are kept, old and abandoned recoveries do not pile up, a database with no kine rows is
 * not "nothing to recover", a read-only state directory and a restore in another process are
 * sentences. Real SQLite files; the full disk without root or a tmpfs: `ulimit -f` on a CLI child
 * (as agent/continuous/apply-bulk.test.ts does), and the sqlite3 importer capped with SQLite's own
 * max_page_count (what it does when the disk fills: "database or disk is full").
 */

const ROOT = path.resolve(import.meta.dirname, "../..");
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
const recoveriesOf = (c: RecoveryCase) => path.join(c.deps.config.stateDir, "recoveries");
const entries = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);
const lockFile = (c: RecoveryCase) => path.join(c.deps.config.stateDir, "restores", ".lock");

/** A table leaf zeroed: integrity_check fails, and every rung runs. */
function damage(c: RecoveryCase): void {
  const leaf = btreePages(c.dbPath, "kine").filter((p) => p.pagetype === "leaf" && p.ncell >= 3)[10];
  overwritePage(c.dbPath, leaf.pageno, fixture.pageSize, "zero");
}

/** `lifeboat-agent recover <args>` in a child process, optionally under `ulimit -f` or without root's capabilities. */
function cli(c: RecoveryCase, args: string[], opts: { fileLimitKiB?: number; unprivileged?: boolean } = {}) {
  const env = {
    ...process.env,
    LIFEBOAT_K3S_SERVER_DIR: c.serverDir,
    LIFEBOAT_STATE_DIR: c.deps.config.stateDir,
    LIFEBOAT_K3S_STATUS_CMD: "echo inactive; exit 3",
    LIFEBOAT_INTEGRITY_SCHEDULE: "off",
    LIFEBOAT_OWNER: `${process.getuid!()}:${process.getgid!()}`,
    LOG_LEVEL: "silent",
  };
  // Root ignores permissions: without its capabilities, it is held to them like anyone.
  const as = opts.unprivileged && process.getuid!() === 0 ? "setpriv --inh-caps=-all --bounding-set=-all " : "";
  const limit = opts.fileLimitKiB ? `ulimit -f ${opts.fileLimitKiB}; ` : "";
  const r = spawnSync("bash", ["-c", `${limit}exec ${as}"$0" --import tsx agent/cli.ts recover "$@"`, process.execPath, ...args], {
    cwd: ROOT,
    env,
    encoding: "utf8",
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("room on the disk", () => {
  it("refuses before copying anything when the filesystem lacks room for the ladder's copies above k3s's reserve", () => {
    const c = freshCase();
    // A state.db whose size is a third of the free space (sparse: it costs nothing): the ladder's
    // copies of it cannot fit. `ulimit -f` keeps a ladder that would copy it anyway from writing much.
    const free = statfsSync(work).bavail * statfsSync(work).bsize;
    truncateSync(c.dbPath, Math.ceil(free / 3));
    const before = statSync(c.dbPath);
    const r = cli(c, ["--compare=none"], { fileLimitKiB: 4096 });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(
      new RegExp(
        `^error: Not enough room to recover: the ladder needs up to \\d+ MiB under ${recoveriesOf(c)} \\(about [\\d.]+ copies of the \\d+ MiB state\\.db\\) and leaves 256 MiB free for k3s, but that filesystem has \\d+ MiB free\\. Free space there \\(older recoveries in .* can go\\), or run the recovery with LIFEBOAT_STATE_DIR on a disk that has room .* Nothing was copied\\.$`,
      ),
    );
    expect(entries(recoveriesOf(c))).toEqual([]);
    expect(existsSync(lockFile(c))).toBe(false);
    expect(statSync(c.dbPath)).toMatchObject({ size: before.size, mtimeMs: before.mtimeMs });
  }, 60_000);

  it("a copy that cannot be written stops the ladder: a sentence, its files removed, its report failed and never a result", async () => {
    const c = freshCase();
    damage(c);
    // The file size limit is below the database's size: the copy fails as it would on a full disk.
    const r = cli(c, ["--compare=none"], { fileLimitKiB: 1024 });
    expect(r.status).toBe(1);
    const sentence =
      /^error: The "Copy" step could not write under .*recoveries \(a file reached the size limit of this process \(ulimit -f\); \d+ MiB free now\)\. Free space there, or run the recovery with LIFEBOAT_STATE_DIR on a disk that has room .*\. The recovery's copies were removed; the live database was only read\.$/;
    expect(r.stderr.trim()).toMatch(sentence);
    expect(r.stderr).not.toMatch(/EFBIG|ENOSPC/);
    const [id] = entries(recoveriesOf(c));
    expect(entries(path.join(recoveriesOf(c), id))).toEqual(["report.json"]);
    const listed = (JSON.parse(cli(c, ["--list"]).stdout) as { recoveries: RecoveryReport[] }).recoveries;
    expect(listed.map((x) => x.id)).toEqual([id]);
    const report = listed[0];
    expect(report.finishedAt).not.toBeNull();
    expect(report.best).toBeNull();
    expect(`error: ${report.recommendation}`).toMatch(sentence);
    expect(report.rungs.find((x) => x.name === "copy")).toMatchObject({ state: "failed", output: null });
    expect(report.rungs.filter((x) => x.state === "skipped").map((x) => x.skippedReason)).toEqual(Array(6).fill("the recovery stopped before this rung"));
    await expect(recoveryBestPath(c.deps.config, id)).rejects.toThrow(/produced no usable database/);
    expect(existsSync(lockFile(c))).toBe(false);
  }, 60_000);

  it("the disk filling up while sqlite3 imports the dump is said so, with sqlite3's words, and stops the ladder", async () => {
    const real = execFileSync("sh", ["-c", "command -v sqlite3"], { encoding: "utf8" }).trim();
    // The importer (`sqlite3 <dir>/dump.db`) as on a disk that is full after 100 pages.
    const bin = path.join(work, "capped-bin");
    mkdirSync(bin, { recursive: true });
    writeFileSync(
      path.join(bin, "sqlite3"),
      `#!/bin/sh\ncase "$1" in */dump.db) [ $# -eq 1 ] && exec ${real} -cmd "PRAGMA max_page_count=100" "$@";; esac\nexec ${real} "$@"\n`,
      { mode: 0o755 },
    );
    const c = freshCase();
    damage(c);
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath}`;
    let job;
    try {
      job = await startRecoveryJob(c.deps, { compareWith: "none" }).done;
    } finally {
      process.env.PATH = savedPath;
    }
    expect(job.state).toBe("failed");
    const full =
      /^The disk filled up while \.dump's output was imported into .*\/dump\.db \(sqlite3: "[^"]*database or disk is full[^"]*"; \d+ MiB free now\)\. Free space under .*recoveries, or run the recovery with LIFEBOAT_STATE_DIR on a disk that has room/;
    expect(job.error).toMatch(full);
    const [id] = entries(recoveriesOf(c));
    const report = loadReport(c.deps.config, id);
    expect(report.rungs.find((x) => x.name === "dump")).toMatchObject({ state: "failed", output: null });
    expect(report.rungs.find((x) => x.name === "dump")!.error).toMatch(full);
    expect(report.rungs.find((x) => x.name === "salvage")!.skippedReason).toBe("the recovery stopped before this rung");
    expect(report.best).toBeNull();
    expect(report.error).toMatch(full);
    expect(entries(path.join(recoveriesOf(c), id))).toEqual(["report.json"]);
  }, 60_000);
});

describe("what stays on disk", () => {
  it("nothing to recover: only the result stays (the checked copy), not the copies the rungs worked on", async () => {
    const c = freshCase();
    const job = await startRecoveryJob(c.deps, { compareWith: "none" }).done;
    expect(job.state, job.error ?? "").toBe("succeeded");
    const report = job.result as RecoveryReport;
    expect(report.recommendation).toBe("The database passes integrity_check: there is nothing to recover.");
    expect(entries(path.join(recoveriesOf(c), report.id))).toEqual(["report.json", "work.db"]);
    expect(report.best?.path).toBe(path.join(recoveriesOf(c), report.id, "work.db"));
  });

  it("a damaged database: the rungs' results stay, the copy they worked on goes", async () => {
    const c = freshCase();
    damage(c);
    const job = await startRecoveryJob(c.deps, { compareWith: "none" }).done;
    expect(job.state, job.error ?? "").toBe("succeeded");
    const report = job.result as RecoveryReport;
    const kept = entries(path.join(recoveriesOf(c), report.id));
    expect(kept).toEqual(["dump.db", "report.json", "salvage.db"]);
    expect(report.rungs.filter((x) => x.output).map((x) => path.basename(x.output!))).toEqual(["dump.db", "salvage.db"]);
  });

  it("an abandoned recovery reads as failed and loses its copies; a new one keeps the newest ones only", async () => {
    const c = freshCase();
    // What a recovery killed mid-way leaves: an unfinished report naming a result, its copies, and
    // the record of a process that is gone (a pid now used by nobody, or by another process).
    const id = "rec-2026-01-01_00-00-00-dead00";
    const dir = path.join(recoveriesOf(c), id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "work.db"), readFileSync(template));
    const [pid, identity] = pidRecord().split("\n");
    writeFileSync(path.join(dir, "owner.pid"), `${pid}\n${identity.replace(/\/\d+$/, "/1")}\n`);
    const abandoned: RecoveryReport = {
      id,
      createdAt: new Date(Date.now() - 60_000).toISOString(),
      finishedAt: null,
      sourcePath: c.dbPath,
      wal: { present: false, bytes: 0, foreign: null, note: null },
      rungs: [],
      salvage: null,
      best: { rung: "integrity", path: path.join(dir, "work.db"), rows: fixture.rows, revisions: null },
      comparison: { backup: null, backupTakenAt: null, diff: null, error: null },
      recommendation: "",
      error: null,
    };
    writeFileSync(path.join(dir, "report.json"), JSON.stringify(abandoned));
    const stopped = /^The recovery stopped before it finished \(its process was killed, or crashed\); what it left is not a result\./;
    expect(loadReport(c.deps.config, id)).toMatchObject({ best: null, error: expect.stringMatching(stopped) });
    expect((await listReports(c.deps.config))[0]).toMatchObject({ id, best: null });
    await expect(recoveryBestPath(c.deps.config, id)).rejects.toThrow(/produced no usable database/);

    const ids: string[] = [];
    const recover = async () => {
      const job = await startRecoveryJob(c.deps, { compareWith: "none" }).done;
      expect(job.state, job.error ?? "").toBe("succeeded");
      ids.push((job.result as RecoveryReport).id);
    };
    await recover();
    expect(entries(dir)).toEqual(["report.json"]);
    expect(JSON.parse(readFileSync(path.join(dir, "report.json"), "utf8"))).toMatchObject({ best: null, error: expect.stringMatching(stopped) });
    for (let i = 1; i < RECOVERIES_KEPT + 1; i++) await recover();
    expect(entries(recoveriesOf(c))).toEqual(ids.slice(-RECOVERIES_KEPT).sort());
  }, 60_000);
});

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
      expect(entries(path.join(recoveriesOf(c), report.id))).toEqual(["report.json"]);
    });
});

describe("where the ladder may not write or copy", () => {
  it("a read-only state directory is a sentence, not ENOENT or EACCES", () => {
    if (process.getuid!() === 0 && spawnSync("setpriv", ["--version"]).status !== 0) {
      console.warn("skipped: running as root without setpriv, so permissions cannot be enforced");
      return;
    }
    const c = freshCase();
    const state = c.deps.config.stateDir;
    mkdirSync(state, { recursive: true });
    chmodSync(state, 0o555);
    try {
      const r = cli(c, ["--compare=none"], { unprivileged: true });
      expect(r.status).toBe(1);
      expect(r.stderr.trim()).toMatch(
        new RegExp(
          `^error: The recovery works on copies under ${state}/recoveries, and ${state} is not writable \\(permission denied for uid \\d+\\)\\. Make it writable, or run the recovery with LIFEBOAT_STATE_DIR on a writable disk .* Nothing was copied\\.$`,
        ),
      );
      expect(r.stderr).not.toMatch(/ENOENT|EACCES/);
      expect(entries(state)).toEqual([]);
    } finally {
      chmodSync(state, 0o700);
    }
  }, 60_000);

  it("a restore or rollback of another process holds the datastore: the recovery copies nothing until it is over", async () => {
    const c = freshCase();
    const holder = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
    try {
      await new Promise((r) => holder.once("spawn", r));
      mkdirSync(path.dirname(lockFile(c)), { recursive: true });
      const held = pidRecord(holder.pid!);
      writeFileSync(lockFile(c), held);
      const job = await startRecoveryJob(c.deps, { compareWith: "none" }).done;
      expect(job.state).toBe("failed");
      expect(job.error).toBe(
        `Another Lifeboat process (pid ${holder.pid}) holds the datastore lock (a restore, rollback or restore drill is running), so a copy taken now could be torn by a restore's swap. Run the recovery again when it has finished. Nothing was copied.`,
      );
      expect(entries(recoveriesOf(c))).toEqual([]);
      expect(readFileSync(lockFile(c), "utf8")).toBe(held);
    } finally {
      holder.kill("SIGKILL");
      await new Promise((r) => holder.once("exit", r));
    }
    // The holder is gone: the recovery runs, and leaves the lock free.
    const job = await startRecoveryJob(c.deps, { compareWith: "none" }).done;
    expect(job.state, job.error ?? "").toBe("succeeded");
    expect(existsSync(lockFile(c))).toBe(false);
  }, 60_000);
});
