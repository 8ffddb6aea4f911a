import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, existsSync, readdirSync, renameSync, statfsSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir, hostname } from "node:os";
import path from "node:path";
import pino from "pino";
import Database from "better-sqlite3";
import { HealthReport } from "../../lib/contracts/agent-health";
import { runProcess } from "../../lib/process";
import { loadAgentConfig } from "../config";
import { makeDeps } from "../deps";
import { buildAgentApp } from "../server";
import { generateKineDb } from "../kine/generator";
import { btreePages, overwritePage } from "../testing/corrupt";
import { agentEnvFor, makeTestServer, runK3s, type TestServer } from "../testing/restore-fixtures";
import { runHealthCheck } from "./check";

/**
 * Health of a live database that k3s (the fake one: a real writer process) is using: owner and mode
 * against the expected owner with the exact fix, kine statistics, k3s's state and who holds the
 * files, disk space for staging; a stuck compaction; the HTTP endpoint with a full integrity_check.
 */

const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(ROOT, "agent/bin/lifeboat-agent.js");
let work: string;
let server: TestServer;

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-health-"));
  // Files owned by pi:pi (1000:1000) with 0644, like the incident's.
  server = makeTestServer(path.join(work, "a"), { seed: 3, marker: "m", owner: { uid: 1000, gid: 1000 } });
  runK3s(server, "start");
});
afterAll(() => {
  runK3s(server, "stop");
  rmSync(work, { recursive: true, force: true });
});

const depsFor = (s: TestServer, extra: Record<string, string> = {}) =>
  makeDeps(loadAgentConfig({ ...agentEnvFor(s), ...extra }), { logDestination: pino.destination("/dev/null") });

describe("GET /health on a live database", () => {
  it("reports the pi:pi owner as a problem with the exact fix, and everything else about the live database", async () => {
    const report = HealthReport.parse(await runHealthCheck(depsFor(server)));
    expect(report.verdict).toBe("warning");
    expect(report.quickCheck).toMatchObject({ ran: true, ok: true, messages: ["ok"] });
    expect(report.database).toMatchObject({ opened: true, checkedOn: "live", journalMode: "wal" });
    const db = report.ownership.entries.find((e) => e.path === server.dbPath)!;
    expect(db).toMatchObject({ ok: false, uid: 1000, gid: 1000, mode: "0644", expectedMode: "0600" });
    expect(db.problem).toBe(`${server.dbPath}: owned by 1000:1000, expected 0:0; mode 0644, expected 0600`);
    expect(db.fix).toBe(`chown 0:0 ${server.dbPath} && chmod 600 ${server.dbPath}`);
    const dir = report.ownership.entries.find((e) => e.path === path.dirname(server.dbPath))!;
    expect(dir.fix).toBe(`chown 0:0 ${path.dirname(server.dbPath)} && chmod 700 ${path.dirname(server.dbPath)}`);
    expect(report.reasons.filter((r) => r.code === "owner_or_mode").length).toBeGreaterThanOrEqual(3);
    // kine statistics, from the one implementation, on a copy of the live table.
    expect(report.kine!.rowCount).toBeGreaterThan(100);
    expect(report.kine!.currentRevision).toBeGreaterThan(report.kine!.compactRevision);
    expect(report.kine!.fileSize).toBe(report.files.db.bytes);
    // k3s: the fake service is active and its writer holds the database.
    expect(report.k3s).toMatchObject({ state: "active", running: true, present: true });
    expect(report.k3s.dbHolders.length).toBeGreaterThanOrEqual(1);
    // The process's name and pid, never its arguments (a `k3s server --token=…` would leak the token).
    expect(report.k3s.dbHolders[0].name).toMatch(/^[^\s/]{1,15}$/);
    expect(JSON.stringify(report.k3s.dbHolders)).not.toContain("kine-writer");
    expect(report.disk).toMatchObject({ sameFilesystemAsServer: true, enoughForStaging: true });
    expect(report.disk.freeBytes).toBeGreaterThan(0);
    expect(report.files.wal.exists).toBe(true);
    expect(report.host).toBe(hostname());
  });

  it("passes once the fixes it printed are run", async () => {
    const s = makeTestServer(path.join(work, "b"), { seed: 4, marker: "m", owner: { uid: 1000, gid: 1000 } });
    runK3s(s, "start");
    try {
      const before = await runHealthCheck(depsFor(s));
      const fixes = before.reasons.filter((r) => r.code === "owner_or_mode").map((r) => r.fix!);
      expect(fixes.length).toBeGreaterThanOrEqual(4);
      for (const fix of fixes) execFileSync("sh", ["-c", fix]);
      const after = await runHealthCheck(depsFor(s));
      expect(after.reasons.map((r) => r.message)).toEqual([]);
      expect(after.verdict).toBe("ok");
    } finally {
      runK3s(s, "stop");
    }
  });

  it("says compaction is stuck when the lag climbs", async () => {
    const s = makeTestServer(path.join(work, "c"), { seed: 5, marker: "m" });
    rmSync(s.dbPath);
    rmSync(`${s.dbPath}-wal`, { force: true });
    rmSync(`${s.dbPath}-shm`, { force: true });
    generateKineDb(s.dbPath, { targetBytes: 14_000_000, compaction: "stuck", seed: 5 });
    const report = await runHealthCheck(depsFor(s));
    const stuck = report.reasons.find((r) => r.code === "compaction_stuck")!;
    expect(stuck.message).toMatch(/^compaction lag [\d,]+ revisions: kine compaction appears stuck; backups will keep growing\.$/);
    expect(report.kine!.compactionLag).toBeGreaterThan(10_000);
    expect(report.reasons.find((r) => r.code === "k3s_not_running")?.fix).toBe(s.k3s.start);
  });

  it("over HTTP, ?integrity=full runs integrity_check and later calls report the last one", async () => {
    const deps = depsFor(server, { LIFEBOAT_AGENT_TOKEN: "health-test-agent-token-0123456789" });
    const app = buildAgentApp(deps);
    const { url } = await app.listen(0, "127.0.0.1");
    try {
      const get = async (q = "") => {
        const res = await fetch(`${url}/health${q}`, { headers: { authorization: "Bearer health-test-agent-token-0123456789" } });
        expect(res.status).toBe(200);
        return HealthReport.parse(await res.json());
      };
      const full = await get("?integrity=full");
      expect(full.integrityCheck).toMatchObject({ ran: true, ok: true, messages: ["ok"] });
      const quick = await get();
      expect(quick.integrityCheck?.at).toBe(full.integrityCheck?.at);
      expect(existsSync(path.join(deps.config.stateDir, "health", "last-integrity.json"))).toBe(true);
      // The checks ran on copies that are gone again.
      const leftovers = existsSync(path.join(deps.config.stateDir, "health"))
        ? (await import("node:fs")).readdirSync(path.join(deps.config.stateDir, "health"))
        : [];
      expect(leftovers).toEqual(["last-integrity.json"]);
    } finally {
      await app.close();
    }
  });

  it("with k3s stopped and its WAL left behind, no room to copy both is said so, without filling the disk first", () => {
    const s = makeTestServer(path.join(work, "h"), { seed: 11, marker: "m" });
    // A WAL without its -shm (nothing has the database open): the check works on copies of both.
    writeFileSync(`${s.dbPath}-wal`, "");
    const st = statfsSync(work);
    truncateSync(`${s.dbPath}-wal`, st.bavail * st.bsize + 1e9);
    const env = { ...process.env, ...agentEnvFor(s) };
    const r = spawnSync("bash", ["-c", `ulimit -f 65536; exec "$0" "$@"`, process.execPath, BIN, "health"], { env, encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).not.toMatch(/EFBIG|ENOSPC/);
    expect(r.stderr).toMatch(/Not enough free space in .* to copy state\.db and its WAL/);
    expect(readdirSync(path.join(s.root, "lifeboat", "health"))).toEqual([]);
  }, 60_000);

  it('state.db a directory or a FIFO (a botched copy): a critical verdict that says so, never a hang or "could not run"', () => {
    const s = makeTestServer(path.join(work, "i"), { seed: 12, marker: "m" });
    const env = { ...process.env, ...agentEnvFor(s) };
    for (const make of [() => mkdirSync(s.dbPath), () => execFileSync("mkfifo", [s.dbPath])]) {
      rmSync(s.dbPath, { recursive: true, force: true });
      make();
      const r = spawnSync(process.execPath, [BIN, "health"], { env, encoding: "utf8", timeout: 30_000 });
      expect(r.signal).toBeNull(); // not killed by the timeout: opening a FIFO for reading waits for a writer
      expect(r.stderr).not.toMatch(/could not run/);
      expect(r.status).toBe(1);
      const report = HealthReport.parse(JSON.parse(r.stdout));
      expect(report.verdict).toBe("critical");
      expect(report.reasons.find((x) => x.code === "db_unreadable")?.message).toMatch(/is not a regular file/);
      const staging = path.join(s.root, "lifeboat", "health");
      expect(existsSync(staging) ? readdirSync(staging) : []).toEqual([]);
    }
  }, 90_000);

  it("a journal whose header is zeroed (a finished write's, kept by journal_mode PERSIST) is not taken for an interrupted write", async () => {
    const s = makeTestServer(path.join(work, "j"), { seed: 13, marker: "m" });
    writeFileSync(`${s.dbPath}-journal`, Buffer.alloc(4096));
    const report = await runHealthCheck(depsFor(s));
    expect(report.reasons.map((r) => r.code)).not.toContain("hot_journal");
    expect(report.database.checkedOn).toBe("live");
    expect(report.quickCheck).toMatchObject({ ran: true, ok: true });
  });

  it("a failed integrity_check of a database that was since replaced (restored) no longer speaks for the new one", async () => {
    const s = makeTestServer(path.join(work, "f"), { seed: 8, marker: "m" });
    const deps = depsFor(s, { LIFEBOAT_OWNER: `${process.getuid!()}:${process.getgid!()}` });
    const leaf = btreePages(s.dbPath, "kine").filter((p) => p.pagetype === "leaf")[3];
    overwritePage(s.dbPath, leaf.pageno, 4096, "zero");
    const damaged = await runHealthCheck(deps, { full: true });
    expect(damaged.integrityCheck).toMatchObject({ ran: true, ok: false });
    expect(damaged.verdict).toBe("critical");
    // A restore puts a new file in its place (a rename, as agent/restore/swap.ts does).
    const fresh = path.join(path.dirname(s.dbPath), "restored.db");
    generateKineDb(fresh, { targetBytes: 1_500_000, compaction: "healthy", seed: 9 });
    renameSync(fresh, s.dbPath);
    const after = await runHealthCheck(deps);
    expect(after.quickCheck).toMatchObject({ ran: true, ok: true });
    expect(after.reasons.filter((r) => r.level === "critical")).toEqual([]);
    expect(after.integrityCheck).toBeNull();
    // The same file checked again keeps its last full check.
    const full = await runHealthCheck(deps, { full: true });
    expect((await runHealthCheck(deps)).integrityCheck).toEqual(full.integrityCheck);
  }, 60_000);

  it("says the WAL is too large past 100 MB, where LifeboatWalTooLarge fires, also next to a larger database", async () => {
    const s = makeTestServer(path.join(work, "g"), { seed: 10, marker: "m" });
    // A reader that holds the WAL open (its -shm too), as k3s does; then the files as after weeks of
    // checkpoints that never complete (sparse: SQLite reads only the frames and pages it counts).
    const k3s = new Database(s.dbPath);
    try {
      k3s.pragma("wal_autocheckpoint = 0");
      k3s.prepare("UPDATE kine SET value = value WHERE id = (SELECT MAX(id) FROM kine)").run();
      truncateSync(`${s.dbPath}-wal`, 150e6);
      truncateSync(s.dbPath, 300e6);
      const report = await runHealthCheck(depsFor(s));
      expect(report.quickCheck).toMatchObject({ ran: true, ok: true });
      expect(report.reasons.find((r) => r.code === "wal_large")?.message).toBe(
        "The WAL is 150.0 MB, larger than it should ever get (100 MB): checkpoints are not completing.",
      );
    } finally {
      k3s.close();
    }
  }, 60_000);

  it("the CLI exits 1 on a critical verdict and prints the reasons", async () => {
    const s = makeTestServer(path.join(work, "d"), { seed: 6, marker: "m" });
    rmSync(s.dbPath);
    const env = { PATH: process.env.PATH!, ...agentEnvFor(s) };
    const run = await runProcess(process.execPath, [BIN, "health"], { env: env as unknown as NodeJS.ProcessEnv });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${s.dbPath}: CRITICAL`);
    expect(run.stderr).toContain(`There is no database at ${s.dbPath}.`);
    expect(HealthReport.parse(JSON.parse(run.stdout)).verdict).toBe("critical");
  });

  it("on a disk without room for a copy, checks the live database read-only and says the disk is full, never filling it up", () => {
    const s = makeTestServer(path.join(work, "e"), { seed: 7, marker: "m" });
    // state.db larger than the free space (sparse: it costs nothing; SQLite reads only the pages its
    // header counts): no copy of it fits. `ulimit -f` stops a check that would copy it anyway (on a
    // real disk, that copy would fill it up under k3s) with EFBIG instead.
    const st = statfsSync(work);
    truncateSync(s.dbPath, st.bavail * st.bsize + 1e9);
    const env = { ...process.env, ...agentEnvFor(s) };
    const r = spawnSync("bash", ["-c", `ulimit -f 65536; exec "$0" "$@"`, process.execPath, BIN, "health"], { env, encoding: "utf8" });
    expect(r.stderr).not.toMatch(/EFBIG|ENOSPC|could not run/);
    expect(r.status).toBe(0);
    const report = HealthReport.parse(JSON.parse(r.stdout));
    expect(report.reasons.map((x) => x.code)).toContain("disk_space");
    expect(report.quickCheck).toMatchObject({ ran: true, ok: true });
    expect(report.database).toMatchObject({ opened: true, checkedOn: "live" });
    expect(report.kine!.rowCount).toBeGreaterThan(100);
    expect(readdirSync(path.join(s.root, "lifeboat", "health"))).toEqual([]);
  }, 60_000);
});
