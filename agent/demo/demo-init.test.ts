import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, rmSync, readFileSync, statSync, lstatSync, writeFileSync, readlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import Database from "better-sqlite3";
import { startEmbeddedS3, type EmbeddedS3 } from "../../lib/storage/embedded-s3";
import { S3BackupStore, listAll } from "../../lib/storage";
import { groupObjects, detectAnomalies } from "../../lib/backups";
import { bootstrapKey, decryptBootstrap } from "../kine/bootstrap";
import { demoPlan, lastUtcMidnight, DEMO_NIGHTS, MISSED_NIGHTS_AGO } from "./demo-init";

// The demo as `npm start` runs it: the CLI in its own process against a real s3rver, then every
// claim checked from outside — with the real gpg, zstd, tar and sqlite3, and the catalog's rules.
const made: string[] = [];
const tmp = (p: string) => {
  const dir = mkdtempSync(path.join(tmpdir(), p));
  made.push(dir);
  return dir;
};
let s3: EmbeddedS3;
let dataDir: string;
let run: { status: number | null; stdout: string; stderr: string; ms: number };
const env = (bucket: string) => ({
  ...process.env,
  AWS_S3_ENDPOINT: s3.endpoint,
  AWS_S3_BUCKET: bucket,
  AWS_ACCESS_KEY_ID: "S3RVER",
  AWS_SECRET_ACCESS_KEY: "S3RVER",
  LOG_LEVEL: "warn",
});
const cli = (args: string[], bucket: string) => {
  const t = Date.now();
  const r = spawnSync(process.execPath, ["--import", "tsx", "agent/cli.ts", ...args], { env: env(bucket), encoding: "utf8", timeout: 170_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t };
};

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: tmp("lifeboat-demo-s3-"), buckets: ["demo", "taken"] });
  dataDir = tmp("lifeboat-demo-data-");
  run = cli(["demo-init", "--data-dir", dataDir], "demo");
}, 180_000);
afterAll(async () => {
  await s3?.stop();
  // The demo history is ~250 MB (store + server dir): do not leave it behind in /tmp.
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

describe("demoPlan", () => {
  it("has 91 nights ending at the last UTC midnight, one missed, the incident at the end", () => {
    const last = lastUtcMidnight(new Date("2025-06-10T13:45:00Z"));
    expect(last.toISOString()).toBe("2025-06-10T00:00:00.000Z");
    const plan = demoPlan(last);
    expect(plan).toHaveLength(DEMO_NIGHTS);
    expect(plan.filter((n) => n.backedUp)).toHaveLength(90);
    expect(plan[DEMO_NIGHTS - 1 - MISSED_NIGHTS_AGO].backedUp).toBe(false);
    expect(plan.at(-1)!.time.toISOString().slice(0, 16)).toBe("2025-06-10T00:00");
    expect(plan.slice(-3).map((n) => [n.mb, n.compaction])).toEqual([
      [53.89, "stuck"],
      [80.51, "stuck"],
      [228.3, "stuck"],
    ]);
    expect(plan[0].mb).toBe(48);
  });
});

describe("lifeboat-agent demo-init", () => {
  it("fills the bucket with 90 complete seed-named sets telling the incident's story", async () => {
    expect(run.status, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split("\n").at(-1)!);
    expect(summary).toMatchObject({ skipped: false, sets: 90, objects: 180 });
    console.log(
      `demo-init took ${(run.ms / 1000).toFixed(1)} s (process), ${(summary.ms / 1000).toFixed(1)} s inside; ${(summary.bytes / 1e6).toFixed(0)} MB; scale ${summary.scale} B per incident MB`,
    );

    const store = new S3BackupStore({ endpoint: s3.endpoint, bucket: "demo", accessKeyId: "S3RVER", secretAccessKey: "S3RVER" });
    const listed = [];
    for await (const o of listAll(store)) listed.push(o);
    const { sets, other } = groupObjects(listed);
    expect(other).toEqual([]);
    expect(sets).toHaveLength(90);
    expect(sets.every((s) => s.format === "seed" && s.missing.length === 0)).toBe(true);
    expect(sets[0].time.getTime() - lastUtcMidnight(new Date()).getTime()).toBeLessThan(60_000);

    const flags = detectAnomalies(sets, { now: new Date(sets[0].time.getTime() + 3_600_000) });
    const levels = (i: number) => (flags.get(sets[i].id) ?? []).map((a) => `${a.kind}:${a.type}:${a.level}`).sort();
    expect(levels(0)).toEqual(["file-archive:growth:critical", "logical:growth:critical"]);
    expect(levels(1)).toContain("file-archive:growth:warning");
    expect(levels(1).join()).not.toContain("critical");
    expect(levels(2)).toEqual([]); // 53.89: a little bigger, not yet unusual
    const gap = [...flags.entries()].filter(([, a]) => a.some((x) => x.type === "gap"));
    expect(gap).toHaveLength(1);
    expect([...flags.keys()].sort()).toEqual([sets[0].id, sets[1].id, gap[0][0]].sort());
    // Shaped like the seed's: 228.3 / 80.51 ≈ 2.8, 80.51 / 53.89 ≈ 1.5.
    const fa = (i: number) => sets[i].objects.find((o) => o.kind === "file-archive")!.size;
    expect(fa(0) / fa(1)).toBeGreaterThan(2.4);
    expect(fa(0) / fa(1)).toBeLessThan(3.3);
    expect(fa(1) / fa(2)).toBeGreaterThan(1.3);
    expect(fa(1) / fa(2)).toBeLessThan(1.7);
  });

  it("creates a demo server directory like k3s's, with modes that keep secrets private", () => {
    const server = path.join(dataDir, "demo", "k3s", "server");
    const mode = (p: string) => (statSync(path.join(server, p)).mode & 0o777).toString(8);
    expect(mode(".")).toBe("700");
    expect(mode("db")).toBe("700");
    expect(mode("token")).toBe("600");
    expect(mode("db/state.db")).toBe("600");
    expect(mode("tls/server-ca.key")).toBe("600");
    expect(mode("cred/passwd")).toBe("600");
    expect(lstatSync(path.join(server, "node-token")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(path.join(server, "node-token"))).toBe("token");
    expect((statSync(path.join(dataDir, "demo", "passphrase")).mode & 0o777).toString(8)).toBe("600");
    const db = path.join(server, "db", "state.db");
    expect(execFileSync("sqlite3", [db, "PRAGMA journal_mode; PRAGMA integrity_check;"]).toString().trim().split("\n")).toEqual(["wal", "ok"]);
    expect(readFileSync(path.join(server, "token"), "utf8")).toMatch(/^K10[0-9a-f]{64}::server:[0-9a-f]{32}\n$/);
  });

  it("makes real archives: gpg, zstd, tar and sqlite3 open them, and the server token opens their bootstrap data", async () => {
    const store = new S3BackupStore({ endpoint: s3.endpoint, bucket: "demo", accessKeyId: "S3RVER", secretAccessKey: "S3RVER" });
    const listed = [];
    for await (const o of listAll(store)) listed.push(o);
    const newest = groupObjects(listed).sets[0];
    const work = tmp("lifeboat-demo-check-");
    const gnupg = path.join(work, "gnupg");
    mkdirSync(gnupg, { mode: 0o700 });
    const pass = path.join(dataDir, "demo", "passphrase");
    const download = async (key: string) => {
      const file = path.join(work, key);
      const chunks: Buffer[] = [];
      for await (const c of await store.get(key)) chunks.push(c as Buffer);
      writeFileSync(file, Buffer.concat(chunks));
      return file;
    };
    const gpg = (src: string, dst: string) =>
      execFileSync("gpg", ["--homedir", gnupg, "--batch", "--yes", "--quiet", "--pinentry-mode", "loopback", "--passphrase-file", pass, "-d", "-o", dst, src], {
        stdio: "pipe",
      });

    const archive = await download(newest.objects.find((o) => o.kind === "file-archive")!.key);
    gpg(archive, path.join(work, "db.tar.zst"));
    execFileSync("zstd", ["-q", "-d", path.join(work, "db.tar.zst"), "-o", path.join(work, "db.tar")]);
    const entries = execFileSync("tar", ["-tf", path.join(work, "db.tar")])
      .toString()
      .trim()
      .split("\n");
    expect(entries).toEqual(expect.arrayContaining(["./", "./state.db"]));
    mkdirSync(path.join(work, "db"));
    execFileSync("tar", ["-xf", path.join(work, "db.tar"), "-C", path.join(work, "db")]);
    const restored = path.join(work, "db", "state.db");
    expect(execFileSync("sqlite3", [restored, "PRAGMA integrity_check"]).toString().trim()).toBe("ok");

    const logical = await download(newest.objects.find((o) => o.kind === "logical")!.key);
    gpg(logical, path.join(work, "logical.db"));
    expect(
      execFileSync("sqlite3", [path.join(work, "logical.db"), "PRAGMA integrity_check; SELECT COUNT(*) > 1000 FROM kine;"])
        .toString()
        .trim()
        .split("\n"),
    ).toEqual(["ok", "1"]);

    const token = readFileSync(path.join(dataDir, "demo", "k3s", "server", "token"), "utf8").trim();
    for (const file of [restored, path.join(work, "logical.db")]) {
      const db = new Database(file, { readonly: true });
      const row = db.prepare("SELECT value FROM kine WHERE name = ? ORDER BY id DESC LIMIT 1").get(bootstrapKey(token)) as { value: Buffer };
      db.close();
      expect(JSON.parse(decryptBootstrap(token, row.value).toString())).toHaveProperty("ServerCA");
    }
  });

  it("does not re-seed on a second run", () => {
    const again = cli(["demo-init", "--data-dir", dataDir], "demo");
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout.trim().split("\n").at(-1)!)).toMatchObject({ skipped: true, sets: 90 });
    expect(again.stderr).toContain("already set up");
  });

  it("refuses a bucket holding someone else's objects, and changes nothing", async () => {
    const store = new S3BackupStore({ endpoint: s3.endpoint, bucket: "taken", accessKeyId: "S3RVER", secretAccessKey: "S3RVER" });
    await store.put("k3s/state_2024-12-18_00-00-07.db.gpg", Readable.from([Buffer.from("real backup")]));
    const other = tmp("lifeboat-demo-other-");
    const r = cli(["demo-init", "--data-dir", other], "taken");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/already holds objects the demo did not write \(e\.g\. k3s\/state_2024-12-18_00-00-07\.db\.gpg\)/);
    const keys = [];
    for await (const o of listAll(store)) keys.push(o.key);
    expect(keys).toEqual(["k3s/state_2024-12-18_00-00-07.db.gpg"]);
    expect(existsSync(path.join(other, "demo"))).toBe(false);
  });
});
