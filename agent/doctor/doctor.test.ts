import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, rmSync, statfsSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import net from "node:net";
import path from "node:path";
import pino from "pino";
import { loadAgentConfig } from "../config";
import { makeDeps } from "../deps";
import { agentEnvFor, makeDirStoreSet, makeTestServer, runK3s, type DirStoreSet, type TestServer } from "../testing/restore-fixtures";
import { runDoctor, type DoctorReport } from "./doctor";

/**
 * `lifeboat-agent doctor` on a good test server (a real simulated k3s running, a directory store
 * holding a set made by the backup pipeline, the right passphrase) and on broken ones: the incident's
 * pi:pi files with loose modes, a wrong passphrase, no token, a store that does not answer, an
 * invalid schedule, an old Node and missing tools — each a problem or warning with its fix — and the
 * real CLI's exit code and --json.
 */

const CHECKOUT = path.resolve(import.meta.dirname, "../..");
const TOKEN = "t".repeat(40);
const isRoot = process.getuid?.() === 0;
let work: string;
let set: DirStoreSet;
let good: TestServer;

const deps = (env: Record<string, string>) => makeDeps(loadAgentConfig(env), { logDestination: pino.destination("/dev/null") });
const goodEnv = (extra: Record<string, string> = {}) =>
  agentEnvFor(good, {
    LIFEBOAT_BACKUP_DIR: set.backupDir,
    LIFEBOAT_PASSPHRASE_FILE: set.passFile,
    LIFEBOAT_AGENT_TOKEN: TOKEN,
    LIFEBOAT_BACKUP_SCHEDULE: "0 0 * * *",
    ...extra,
  });
const all = { nodeVersion: "22.11.0", hasCommand: () => true };
const byId = (r: DoctorReport, id: string) => r.checks.filter((c) => c.id === id);
const levels = (r: DoctorReport) => Object.fromEntries(r.checks.map((c) => [c.id, c.level]));

/** The modes k3s gives its files (and a restore sets): 0700 directory, 0600 files. */
function tighten(server: TestServer): void {
  chmodSync(path.dirname(server.dbPath), 0o700);
  for (const f of readdirSync(path.dirname(server.dbPath))) chmodSync(path.join(path.dirname(server.dbPath), f), 0o600);
  chmodSync(path.join(server.serverDir, "token"), 0o600);
}

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-doctor-"));
  set = await makeDirStoreSet(work, { seed: 5, marker: "doctor", passphrase: "correct horse battery staple" });
  good = set.source;
  tighten(good);
  runK3s(good, "start");
}, 120_000);
afterAll(() => {
  if (good) runK3s(good, "stop");
  rmSync(work, { recursive: true, force: true });
});

describe("lifeboat-agent doctor", () => {
  it("finds nothing wrong on a good server: every check ok, the passphrase opens the newest set", async () => {
    const r = await runDoctor(deps(goodEnv()), all);
    expect(r.checks.filter((c) => c.level !== "ok")).toEqual([]);
    expect(r).toMatchObject({ ok: true, problems: 0, warnings: 0 });
    expect(levels(r)).toEqual({
      node: "ok",
      token: "ok",
      tls: "ok",
      "k3s-server-dir": "ok",
      ownership: "ok",
      k3s: "ok",
      disk: "ok",
      tools: "ok",
      store: "ok",
      passphrase: "ok",
      schedule: "ok",
    });
    expect(byId(r, "passphrase")[0].message).toContain(set.setId);
    expect(byId(r, "schedule")[0].message).toMatch(/next at \d{4}-\d{2}-\d{2}T00:00:00/);
  });

  it.skipIf(!isRoot)("on the incident's server: pi:pi files with loose modes, each with the exact chown/chmod that fixes it", async () => {
    const pi = makeTestServer(path.join(work, "pi"), { seed: 9, marker: "pi", owner: { uid: 1000, gid: 1000 } });
    const r = await runDoctor(
      deps(agentEnvFor(pi, { LIFEBOAT_BACKUP_DIR: set.backupDir, LIFEBOAT_PASSPHRASE_FILE: set.passFile, LIFEBOAT_AGENT_TOKEN: TOKEN })),
      all,
    );
    expect(r.ok).toBe(false);
    const own = byId(r, "ownership");
    expect(own.every((c) => c.level === "problem")).toBe(true);
    const db = own.find((c) => c.message.startsWith(`${pi.dbPath}:`))!;
    expect(db.message).toContain("owned by 1000:1000, expected 0:0");
    expect(db.message).toContain("mode 0644, expected 0600");
    expect(db.fix).toBe(`chown 0:0 ${pi.dbPath} && chmod 600 ${pi.dbPath}`);
    // Applying the fixes makes the check pass: they are the right commands.
    for (const c of own) execFileSync("sh", ["-c", c.fix!]);
    const again = await runDoctor(
      deps(agentEnvFor(pi, { LIFEBOAT_BACKUP_DIR: set.backupDir, LIFEBOAT_PASSPHRASE_FILE: set.passFile, LIFEBOAT_AGENT_TOKEN: TOKEN })),
      all,
    );
    expect(byId(again, "ownership").map((c) => c.level)).toEqual(["ok"]);
  });

  it("a wrong passphrase, no token, an invalid schedule, an old Node and missing tools: problems and warnings with fixes", async () => {
    const wrong = path.join(work, "wrong-pass");
    writeFileSync(wrong, "not the passphrase\n", { mode: 0o600 });
    const r = await runDoctor(deps(goodEnv({ LIFEBOAT_PASSPHRASE_FILE: wrong, LIFEBOAT_AGENT_TOKEN: "", LIFEBOAT_BACKUP_SCHEDULE: "every night" })), {
      nodeVersion: "18.19.0",
      hasCommand: (c) => c !== "sqlite3",
    });
    expect(r.ok).toBe(false);
    expect(levels(r)).toMatchObject({ node: "problem", token: "problem", passphrase: "problem", schedule: "problem", tools: "warning", store: "ok" });
    expect(byId(r, "passphrase")[0].message).toContain(`does not open the newest set (${set.setId})`);
    expect(byId(r, "node")[0].fix).toContain("Node.js 22");
    expect(byId(r, "token")[0].fix).toContain("LIFEBOAT_AGENT_TOKEN_FILE=/etc/lifeboat/agent-token");
    expect(byId(r, "schedule")[0].message).toContain('"every night" is not a cron expression');
    expect(byId(r, "tools")[0]).toMatchObject({ level: "warning", fix: "apt-get install -y sqlite3" });
    for (const c of r.checks.filter((x) => x.level !== "ok")) expect({ id: c.id, fix: Boolean(c.fix) }).toEqual({ id: c.id, fix: true });
    // No secret in what it prints.
    expect(JSON.stringify(r)).not.toContain("not the passphrase");
  });

  it("a store that does not answer, a passphrase file others can read, a missing server dir", async () => {
    const loose = path.join(work, "loose-pass");
    writeFileSync(loose, "correct horse battery staple\n", { mode: 0o644 });
    chmodSync(loose, 0o644);
    const r = await runDoctor(
      deps(
        goodEnv({
          LIFEBOAT_BACKUP_DIR: "",
          AWS_S3_BUCKET: "lifeboat",
          AWS_S3_ENDPOINT: "http://127.0.0.1:9",
          AWS_ACCESS_KEY_ID: "K",
          AWS_SECRET_ACCESS_KEY: "S3-SECRET-VALUE",
          LIFEBOAT_PASSPHRASE_FILE: loose,
          LIFEBOAT_K3S_SERVER_DIR: path.join(work, "nowhere"),
        }),
      ),
      all,
    );
    expect(levels(r)).toMatchObject({ store: "problem", "passphrase-file": "problem", "k3s-server-dir": "problem" });
    expect(byId(r, "store")[0].message).toContain("s3://lifeboat at http://127.0.0.1:9 cannot be listed");
    expect(byId(r, "passphrase-file")[0].fix).toBe(`chmod 600 ${loose}`);
    expect(JSON.stringify(r)).not.toContain("S3-SECRET-VALUE");
  }, 90_000);

  it("a store that accepts the connection but never answers: a problem within the deadline, not a doctor hanging for minutes", async () => {
    const silent = net.createServer(() => {}); // accepts, reads nothing, answers nothing
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = silent.address() as net.AddressInfo;
      const env = goodEnv({ LIFEBOAT_BACKUP_DIR: "", AWS_S3_BUCKET: "lifeboat", AWS_S3_ENDPOINT: `http://127.0.0.1:${port}`, AWS_ACCESS_KEY_ID: "K" });
      const t0 = Date.now();
      const r = await Promise.race([
        runDoctor(deps({ ...env, AWS_SECRET_ACCESS_KEY: "S3-SECRET-VALUE" }), { ...all, storeTimeoutMs: 1000 }),
        new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), 15_000)),
      ]);
      expect(r).not.toBe("hung");
      const report = r as DoctorReport;
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(byId(report, "store")[0]).toMatchObject({
        level: "problem",
        message: `The store s3://lifeboat at http://127.0.0.1:${port} did not answer within 1 s.`,
      });
      expect(byId(report, "store")[0].fix).toMatch(/reaches the endpoint/);
      expect(JSON.stringify(report)).not.toContain("S3-SECRET-VALUE");
    } finally {
      silent.close();
    }
  }, 30_000);

  it("a clock behind the newest set's time (off now, or when the set was made): a warning to fix the clock", async () => {
    const now = new Date(Date.now() - 2 * 86_400_000);
    const r = await runDoctor(deps(goodEnv()), { ...all, now });
    const clock = byId(r, "clock");
    expect(clock).toHaveLength(1);
    expect(clock[0].level).toBe("warning");
    expect(clock[0].message).toMatch(
      new RegExp(`^The newest set \\(${set.setId}\\) is dated 48 hours after this host's clock \\(${now.toISOString().slice(0, 16)}.*\\): `),
    );
    expect(clock[0].fix).toMatch(/timedatectl/);
    // A right clock: no clock check at all.
    expect(byId(await runDoctor(deps(goodEnv()), all), "clock")).toEqual([]);
  });

  it("an integrity schedule that is not a cron expression, or never comes: a warning, since serve would never run the full check", async () => {
    for (const [expr, words] of [
      ["nightly", '"nightly" is not a cron expression'],
      ["0 0 30 2 *", '"0 0 30 2 *" never comes'],
    ]) {
      const r = await runDoctor(deps(goodEnv({ LIFEBOAT_INTEGRITY_SCHEDULE: expr })), all);
      const c = byId(r, "integrity-schedule");
      expect(c).toHaveLength(1);
      expect(c[0]).toMatchObject({ level: "warning" });
      expect(c[0].message).toContain(`LIFEBOAT_INTEGRITY_SCHEDULE: ${words}`);
      expect(c[0].fix).toMatch(/LIFEBOAT_INTEGRITY_SCHEDULE=30 3 \* \* \*/);
    }
    expect(byId(await runDoctor(deps(goodEnv({ LIFEBOAT_INTEGRITY_SCHEDULE: "off" })), all), "integrity-schedule")).toEqual([]);
  });

  it("free space for a restore counts the WAL too, as the health check does", async () => {
    const s = makeTestServer(path.join(work, "wal"), { seed: 12, marker: "wal" });
    tighten(s);
    // A WAL as large as the free space (sparse: it costs nothing), next to a small database.
    const st = statfsSync(work);
    writeFileSync(`${s.dbPath}-wal`, "");
    truncateSync(`${s.dbPath}-wal`, st.bavail * st.bsize);
    const r = await runDoctor(
      deps(agentEnvFor(s, { LIFEBOAT_BACKUP_DIR: set.backupDir, LIFEBOAT_PASSPHRASE_FILE: set.passFile, LIFEBOAT_AGENT_TOKEN: TOKEN })),
      all,
    );
    expect(byId(r, "disk")[0]).toMatchObject({ level: "problem" });
    rmSync(`${s.dbPath}-wal`);
  });

  it("a passphrase file saved with a Windows line ending: a warning that the \\r is part of the passphrase, as gpg takes it", async () => {
    const crlf = path.join(work, "crlf-pass");
    writeFileSync(crlf, "correct horse battery staple\r\n", { mode: 0o600 });
    const r = await runDoctor(deps(goodEnv({ LIFEBOAT_PASSPHRASE_FILE: crlf })), all);
    const warning = byId(r, "passphrase-file").find((c) => c.level === "warning");
    expect(warning?.message).toBe(
      `The first line of ${crlf} ends with a carriage return (a Windows line ending): gpg --passphrase-file and the agent both take it as part of the passphrase, so archives open with this file but not with the passphrase typed by hand.`,
    );
    // The set was made with the passphrase without the \r: it does not open, as with gpg and this file.
    expect(levels(r).passphrase).toBe("problem");
    const plain = path.join(work, "plain-pass");
    writeFileSync(plain, "correct horse battery staple\n", { mode: 0o600 });
    expect(byId(await runDoctor(deps(goodEnv({ LIFEBOAT_PASSPHRASE_FILE: plain })), all), "passphrase-file")).toEqual([]);
  }, 90_000);

  it("the CLI: exit 0 and a summary on a good server, exit 1 with --json on a broken one, and a configuration error is a problem too", () => {
    const cli = (env: Record<string, string>, ...args: string[]) =>
      spawnSync(process.execPath, [path.join(CHECKOUT, "agent/bin/lifeboat-agent.js"), "doctor", ...args], {
        env: { NODE_ENV: "test", PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
        encoding: "utf8",
        timeout: 120_000,
      });
    const ok = cli(goodEnv());
    expect(ok.stdout).toContain("this server is ready for backups and restores");
    expect(ok.status).toBe(0);
    const bad = cli(goodEnv({ LIFEBOAT_AGENT_TOKEN: "" }), "--json");
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false, checks: expect.arrayContaining([expect.objectContaining({ id: "token", level: "problem" })]) });
    const unconfigured = cli(goodEnv({ LIFEBOAT_OWNER: "pi:pi" }));
    expect(unconfigured.status).toBe(1);
    expect(unconfigured.stdout).toMatch(/✗ config [\s\S]*LIFEBOAT_OWNER: must be "uid:gid"/);
    expect(unconfigured.stdout).toContain("fix: Fix that variable in /etc/lifeboat/agent.env");
  }, 180_000);
});
