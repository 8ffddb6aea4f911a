import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, existsSync, readFileSync, symlinkSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { runHealthCheck } from "../health/check";
import { startRecoveryJob } from "./ladder";
import { salvageKineDatabase } from "./salvage";
import type { RecoveryReport } from "../../lib/contracts/agent-recovery";
import type { HealthReport } from "../../lib/contracts/agent-health";
import {
  btreePages,
  fileHash,
  kineRowDigests,
  makeKineFixture,
  overwritePage,
  plantForeignWal,
  plantHotJournal,
  rootPage,
  recoveryCase,
  rowsSurvivingTruncation,
  truncateToFraction,
  zeroBytes,
  type KineFixture,
  type RecoveryCase,
} from "../testing/corrupt";

/**
 * The corruption cases of issue 4, each on a generated kine database (3-level table b-tree, overflow
 * pages, free pages still holding compacted rows): what health says, what every rung of the ladder
 * recovers (row counts asserted), and that the live files are never modified.
 */

let work: string;
let fixture: KineFixture;
let template: string;
let all: Map<number, string>;

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-corrupt-"));
  template = path.join(work, "template.db");
  fixture = makeKineFixture(template);
  all = kineRowDigests(template);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

type Case = RecoveryCase;

let n = 0;
const freshCase = (): Case => recoveryCase(path.join(work, `case-${++n}`), template, fixture.token);

/** Everything a test may not change: the bytes of state.db and -wal, and the db directory's listing. */
function liveState(c: Case): string {
  const dir = path.dirname(c.dbPath);
  const names = readdirSync(dir).sort();
  return JSON.stringify({ names, db: fileHash(c.dbPath), wal: existsSync(`${c.dbPath}-wal`) ? fileHash(`${c.dbPath}-wal`) : null });
}

async function healthAndLadder(c: Case): Promise<{ health: HealthReport; report: RecoveryReport }> {
  const before = liveState(c);
  const health = await runHealthCheck(c.deps);
  const job = startRecoveryJob(c.deps, { compareWith: "none" });
  const done = await job.done;
  expect(done.state, done.error ?? "").toBe("succeeded");
  const report = done.result as RecoveryReport;
  expect(liveState(c)).toBe(before);
  return { health, report };
}

const rungOf = (r: RecoveryReport, name: string) => r.rungs.find((x) => x.name === name)!;

/** The rows of a database produced by a rung, compared with the original's: all present ones identical. */
function compareWithOriginal(file: string): { rows: number; missing: number; altered: number; extra: number } {
  const got = kineRowDigests(file);
  let missing = 0;
  let altered = 0;
  let extra = 0;
  for (const [id, h] of all) {
    const g = got.get(id);
    if (g === undefined) missing++;
    else if (g !== h) altered++;
  }
  for (const id of got.keys()) if (!all.has(id)) extra++;
  return { rows: got.size, missing, altered, extra };
}

describe("the fixture", () => {
  it("has interior, overflow and free pages", () => {
    const pages = btreePages(template, "kine");
    expect(pages.filter((p) => p.pagetype === "internal").length).toBeGreaterThanOrEqual(3);
    expect(pages.filter((p) => p.pagetype === "overflow").length).toBeGreaterThan(20);
    expect(fixture.freelistPages).toBeGreaterThan(100);
    expect(fixture.rows).toBeGreaterThan(1500);
  });
});

describe("corruption cases: health, every rung, live files untouched", () => {
  it("a random index leaf page overwritten: dump and salvage get every row", async () => {
    const c = freshCase();
    const leaf = btreePages(c.dbPath, "kine_name_index").filter((p) => p.pagetype === "leaf")[3];
    overwritePage(c.dbPath, leaf.pageno, fixture.pageSize, "random", 7);
    const { health, report } = await healthAndLadder(c);
    expect(health.verdict).toBe("critical");
    expect(health.reasons[0].code).toBe("quick_check_failed");
    expect(rungOf(report, "integrity").state).toBe("failed");
    expect(rungOf(report, "dump").rows).toBe(fixture.rows);
    expect(rungOf(report, "salvage").rows).toBe(fixture.rows);
    expect(compareWithOriginal(rungOf(report, "salvage").output!)).toEqual({ rows: fixture.rows, missing: 0, altered: 0, extra: 0 });
    expect(report.best?.rows).toBe(fixture.rows);
  });

  it("a table leaf page zeroed: exactly that page's rows are lost, by dump and salvage alike", async () => {
    const c = freshCase();
    const leaf = btreePages(c.dbPath, "kine").filter((p) => p.pagetype === "leaf" && p.ncell >= 3)[40];
    overwritePage(c.dbPath, leaf.pageno, fixture.pageSize, "zero");
    const { health, report } = await healthAndLadder(c);
    expect(health.verdict).toBe("critical");
    expect(health.quickCheck.ok).toBe(false);
    expect(rungOf(report, "dump").rows).toBe(fixture.rows - leaf.ncell);
    expect(rungOf(report, "dump").state).toBe("partial"); // it ended in ROLLBACK; -- due to errors, imported with COMMIT
    expect(rungOf(report, "salvage").rows).toBe(fixture.rows - leaf.ncell);
    expect(compareWithOriginal(rungOf(report, "salvage").output!)).toEqual({ rows: fixture.rows - leaf.ncell, missing: leaf.ncell, altered: 0, extra: 0 });
  });

  it("a table interior page overwritten: the dump loses rows, the salvage gets them all", async () => {
    const c = freshCase();
    const root = rootPage(c.dbPath);
    const interior = btreePages(c.dbPath, "kine").filter((p) => p.pagetype === "internal" && p.pageno !== root)[0];
    overwritePage(c.dbPath, interior.pageno, fixture.pageSize, "random", 3);
    const { health, report } = await healthAndLadder(c);
    expect(health.verdict).toBe("critical");
    expect(rungOf(report, "dump").rows!).toBeLessThan(fixture.rows);
    expect(rungOf(report, "salvage").rows).toBe(fixture.rows);
    expect(compareWithOriginal(rungOf(report, "salvage").output!)).toEqual({ rows: fixture.rows, missing: 0, altered: 0, extra: 0 });
    expect(report.salvage!.kineTree.complete).toBe(false);
    expect(report.best?.rung).toBe("salvage");
  });

  it("the table's root page overwritten: the dump gets nothing, the salvage everything", async () => {
    const c = freshCase();
    overwritePage(c.dbPath, rootPage(c.dbPath), fixture.pageSize, "random", 5);
    const { report } = await healthAndLadder(c);
    expect(rungOf(report, "dump").rows).toBe(0);
    expect(rungOf(report, "dump").state).toBe("failed");
    expect(compareWithOriginal(rungOf(report, "salvage").output!)).toEqual({ rows: fixture.rows, missing: 0, altered: 0, extra: 0 });
  });

  it("the file truncated to 50 %: the salvage gets every row whose pages survived, and nothing else", async () => {
    const c = freshCase();
    const pagesLeft = truncateToFraction(c.dbPath, 0.5, fixture.pageSize);
    const surviving = rowsSurvivingTruncation(template, pagesLeft);
    const { health, report } = await healthAndLadder(c);
    expect(health.verdict).toBe("critical");
    expect(rungOf(report, "salvage").rows).toBe(surviving);
    const cmp = compareWithOriginal(rungOf(report, "salvage").output!);
    expect(cmp).toMatchObject({ rows: surviving, altered: 0, extra: 0 });
    expect(rungOf(report, "dump").rows!).toBeLessThanOrEqual(surviving);
  });

  it("the first 100 bytes zeroed: SQLite sees no database, the salvage recovers every row", async () => {
    const c = freshCase();
    zeroBytes(c.dbPath, 0, 100);
    const { health, report } = await healthAndLadder(c);
    expect(health.verdict).toBe("critical");
    expect(health.database.opened).toBe(false);
    expect(health.reasons[0].code).toBe("db_unreadable");
    expect(health.reasons[0].message).toMatch(/not a database/);
    expect(rungOf(report, "integrity").state).toBe("failed");
    expect(rungOf(report, "dump").rows ?? 0).toBe(0);
    expect(report.salvage!.pageSizeSource).toBe("detected");
    expect(compareWithOriginal(rungOf(report, "salvage").output!)).toEqual({ rows: fixture.rows, missing: 0, altered: 0, extra: 0 });
    expect(report.best?.rung).toBe("salvage");
  });

  it("page 1 zeroed (the schema is gone): the salvage still recovers every row, and no deleted one", async () => {
    const c = freshCase();
    overwritePage(c.dbPath, 1, fixture.pageSize, "zero");
    const { health, report } = await healthAndLadder(c);
    expect(health.verdict).toBe("critical");
    expect(rungOf(report, "dump").rows ?? 0).toBe(0);
    expect(report.salvage!.kineTree.rootSource).toBe("guessed");
    // Free pages still hold hundreds of compacted rows; none may come back.
    expect(report.salvage!.dropped.onFreePages + report.salvage!.dropped.outsideTree).toBeGreaterThan(100);
    expect(compareWithOriginal(rungOf(report, "salvage").output!)).toEqual({ rows: fixture.rows, missing: 0, altered: 0, extra: 0 });
  });

  it("a stale WAL from another database next to the file: health says so, the ladder uses the file alone", async () => {
    const c = freshCase();
    const walBytes = plantForeignWal(c.dbPath, path.join(work, `other-${n}.db`));
    expect(walBytes).toBeGreaterThan(100_000);
    const { health, report } = await healthAndLadder(c);
    expect(health.verdict).toBe("critical");
    expect(health.database.checkedOn).toBe("copy"); // a WAL without -shm: never opened in place
    expect(health.reasons.map((r) => r.code)).toContain("wal_corrupts_db");
    expect(existsSync(`${c.dbPath}-shm`)).toBe(false);
    expect(report.wal).toMatchObject({ present: true, foreign: true });
    expect(rungOf(report, "integrity").state).toBe("ok");
    expect(rungOf(report, "integrity").rows).toBe(fixture.rows);
    expect(rungOf(report, "salvage").state).toBe("skipped");
    expect(report.best).toMatchObject({ rung: "integrity", rows: fixture.rows });
    expect(compareWithOriginal(report.best!.path)).toEqual({ rows: fixture.rows, missing: 0, altered: 0, extra: 0 });
  });

  it("a hot rollback journal next to the file: the ladder rolls it back as SQLite would, and loses no row", async () => {
    const c = freshCase();
    expect(plantHotJournal(c.dbPath)).toBeGreaterThan(100_000);
    // The file alone is torn mid-transaction: every row it rewrote is on a page the journal holds.
    const { health, report } = await healthAndLadder(c);
    expect(existsSync(`${c.dbPath}-journal`)).toBe(true);
    // Health checks what SQLite (k3s) will see: the file with its journal rolled back, on a copy.
    expect(health.quickCheck).toMatchObject({ ran: true, ok: true });
    expect(health.kine?.rowCount).toBe(fixture.rows);
    expect(health.database.checkedOn).toBe("copy");
    expect(health.verdict).toBe("warning");
    expect(health.reasons.find((r) => r.code === "hot_journal")?.message).toMatch(/rolls it back/);
    expect(report.best).toMatchObject({ rung: "integrity", rows: fixture.rows });
    expect(compareWithOriginal(report.best!.path)).toEqual({ rows: fixture.rows, missing: 0, altered: 0, extra: 0 });
    expect(rungOf(report, "integrity")).toMatchObject({ state: "ok", rows: fixture.rows });
    expect(rungOf(report, "copy").note).toMatch(/rollback journal/);
  });

  it("state.db a symlink to another disk: the WAL SQLite keeps beside the real file is copied with it", async () => {
    const c = freshCase();
    // The real file elsewhere, with commits only its WAL holds (k3s died before a checkpoint);
    // SQLite names the WAL after the resolved path, so it sits beside the real file, not the link.
    const real = path.join(work, `ssd-${n}`, "state.db");
    mkdirSync(path.dirname(real));
    const writer = new Database(c.dbPath);
    try {
      writer.pragma("journal_mode = WAL");
      writer.pragma("wal_autocheckpoint = 0");
      writer
        .prepare("INSERT INTO kine (name, created, deleted, create_revision, prev_revision, lease, value, old_value) VALUES (?, 1, 0, 0, 0, 0, ?, NULL)")
        .run("/registry/configmaps/default/only-in-wal", Buffer.from("only in the WAL"));
      // Copied while the connection is open: closing it would checkpoint the WAL into the file.
      copyFileSync(c.dbPath, real);
      copyFileSync(`${c.dbPath}-wal`, `${real}-wal`);
    } finally {
      writer.close();
    }
    rmSync(c.dbPath);
    symlinkSync(real, c.dbPath);
    const job = startRecoveryJob(c.deps, { compareWith: "none" });
    const done = await job.done;
    expect(done.state, done.error ?? "").toBe("succeeded");
    const report = done.result as RecoveryReport;
    expect(report.wal).toMatchObject({ present: true });
    expect(report.best).toMatchObject({ rung: "integrity", rows: fixture.rows + 1 });
    expect(existsSync(`${real}-wal`)).toBe(true);
  });

  it("kine's UNIQUE index damaged, so the table holds a second row of one (name, prev_revision): a rung that cannot rebuild the index fails, the ladder goes on", async () => {
    const c = freshCase();
    // The index stops enforcing (as a damaged one does) while kine inserts a conflicting row; then it is itself again.
    const sql = (q: string) => execFileSync("sqlite3", [c.dbPath, q]);
    sql(
      `PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = 'CREATE INDEX kine_name_prev_revision_uindex ON kine (name, prev_revision)' WHERE name = 'kine_name_prev_revision_uindex'`,
    );
    sql(`INSERT INTO kine (name, created, deleted, create_revision, prev_revision, lease, value, old_value)
         SELECT name, created, deleted, create_revision, prev_revision, lease, value, old_value FROM kine WHERE name LIKE '/registry/configmaps/%' ORDER BY id DESC LIMIT 1`);
    sql(
      `PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = 'CREATE UNIQUE INDEX kine_name_prev_revision_uindex ON kine (name, prev_revision)' WHERE name = 'kine_name_prev_revision_uindex'`,
    );
    expect(sql("PRAGMA integrity_check").toString()).toMatch(/non-unique entry in index kine_name_prev_revision_uindex/);
    const { report } = await healthAndLadder(c);
    expect(rungOf(report, "dump")).toMatchObject({ state: "failed" });
    expect(rungOf(report, "dump").error).toMatch(/UNIQUE/);
    // Every other row as it was; of the two rows of one (name, prev_revision), one is kept.
    expect(report.best).not.toBeNull();
    const cmp = compareWithOriginal(report.best!.path);
    expect(cmp).toMatchObject({ rows: fixture.rows, altered: 0 });
    expect(cmp.missing).toBeLessThanOrEqual(1);
  });

  it("the .recover rung is tried only when the host's sqlite3 has a working .recover, and says why not", async () => {
    const c = freshCase();
    zeroBytes(c.dbPath, 0, 100);
    const { report } = await healthAndLadder(c);
    const rec = rungOf(report, "recover");
    // Debian bookworm's sqlite3 3.40.1 (this machine) ships it broken; elsewhere it must have run.
    if (rec.state === "skipped") expect(rec.skippedReason).toMatch(/\.recover does not work on this host/);
    else expect(rec.rows).not.toBeNull();
  });
});

describe("salvage beyond the required cases", () => {
  it("page 1 and every freelist trunk page zeroed: the complete b-tree still tells live rows from stale ones", async () => {
    const file = path.join(work, "p1-trunks.db");
    copyFileSync(template, file);
    const buf = readFileSync(file);
    const trunks: number[] = [];
    for (let t = buf.readUInt32BE(32); t; t = buf.readUInt32BE((t - 1) * fixture.pageSize)) trunks.push(t);
    expect(trunks.length).toBeGreaterThan(0);
    for (const p of [1, ...trunks]) overwritePage(file, p, fixture.pageSize, "zero");
    const out = path.join(work, "p1-trunks-out.db");
    const r = await salvageKineDatabase(file, out);
    expect(r.freelist.source).toBe("none");
    expect(r.kineTree).toMatchObject({ rootSource: "guessed", complete: true });
    expect(compareWithOriginal(out)).toEqual({ rows: fixture.rows, missing: 0, altered: 0, extra: 0 });
  });

  it("a healthy database round-trips exactly, with kine's schema and indexes", async () => {
    const out = path.join(work, "healthy-out.db");
    const r = await salvageKineDatabase(template, out);
    expect(r).toMatchObject({ headerIntact: true, pageSizeSource: "header", rowsKept: fixture.rows });
    expect(r.kineTree.complete).toBe(true);
    expect(compareWithOriginal(out)).toEqual({ rows: fixture.rows, missing: 0, altered: 0, extra: 0 });
    const Database = (await import("better-sqlite3")).default;
    const db = new Database(out, { readonly: true });
    const indexes = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'kine%' ORDER BY name").pluck().all();
    const seq = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'kine'").pluck().get();
    db.close();
    expect(indexes).toEqual([
      "kine_id_compact_rev_key_with_prev_revision_index",
      "kine_id_deleted_index",
      "kine_name_id_index",
      "kine_name_index",
      "kine_name_prev_revision_uindex",
      "kine_prev_revision_index",
    ]);
    // AUTOINCREMENT continues after the highest recovered revision: kine's next write gets a new one.
    expect(seq).toBe(fixture.currentRevision);
  });
});
