import { describe, it, expect, beforeAll, afterAll } from "vitest";
import {
  mkdtempSync,
  writeFileSync,
  readFileSync,
  createWriteStream,
  createReadStream,
  rmSync,
  mkdirSync,
  existsSync,
  lstatSync,
  statSync,
  readdirSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { pipeline } from "node:stream/promises";
import { startEmbeddedS3, type EmbeddedS3 } from "../../lib/storage/embedded-s3";
import { S3BackupStore, listAll } from "../../lib/storage";
import { BackupResult } from "../../lib/contracts/agent-backup";
import { BackupManifest } from "../../lib/contracts/manifest";
import { seedObjectNames } from "../../lib/contracts/backup-names";
import { runProcess } from "../../lib/process";
import { makeTestServerDir, stopGpgAgents, useGnupgHome, type TestServerDir } from "../testing/test-server-dir";
import { openArchive } from "./archive-pipeline";

const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(ROOT, "agent/bin/lifeboat-agent.js");
const KEY_ID = "lifeboat-test-key";
const SECRET = "lifeboat-test-secret-Zq81";
const PASSPHRASE = "correct horse battery staple";

const made: string[] = [];
const tmp = (p = "lifeboat-bk-") => {
  const d = mkdtempSync(path.join(tmpdir(), p));
  made.push(d);
  return d;
};
const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");
const sh = (cmd: string, args: string[], env: Record<string, string> = {}) =>
  execFileSync(cmd, args, { env: { ...process.env, ...env }, stdio: "pipe" })
    .toString()
    .trim();

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the installed `lifeboat-agent` bin as its own process. */
function cli(args: string[], env: Record<string, string>): Promise<CliRun> {
  return runProcess(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? "/root", LOG_LEVEL: "warn", ...env } as unknown as NodeJS.ProcessEnv,
    timeoutMs: 45_000,
  });
}

let s3: EmbeddedS3;
let work: string;
let server: TestServerDir;
let passFile: string;

beforeAll(async () => {
  work = tmp();
  s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["backups"], accessKeyId: KEY_ID, secretAccessKey: SECRET });
  server = makeTestServerDir(path.join(work, "k3s"), { targetBytes: 4_000_000 });
  passFile = path.join(work, "passphrase");
  writeFileSync(passFile, PASSPHRASE + "\n", { mode: 0o400 });
});
afterAll(async () => {
  stopGpgAgents();
  await s3?.stop();
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** Agent environment for one isolated prefix of the bucket. */
function agentEnv(prefix: string, over: Record<string, string> = {}): Record<string, string> {
  return {
    LIFEBOAT_K3S_SERVER_DIR: server.serverDir,
    LIFEBOAT_PASSPHRASE_FILE: passFile,
    LIFEBOAT_STATE_DIR: path.join(work, "state"),
    AWS_S3_ENDPOINT: s3.endpoint,
    AWS_S3_BUCKET: "backups",
    AWS_S3_PATH: prefix,
    AWS_ACCESS_KEY_ID: KEY_ID,
    AWS_SECRET_ACCESS_KEY: SECRET,
    ...over,
  };
}
const storeFor = (prefix: string) => new S3BackupStore({ endpoint: s3.endpoint, bucket: "backups", prefix, accessKeyId: KEY_ID, secretAccessKey: SECRET });
async function keys(prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of listAll(storeFor(prefix))) out.push(o.key);
  return out.sort();
}
async function download(prefix: string, key: string, dest: string): Promise<string> {
  await pipeline(await storeFor(prefix).get(key), createWriteStream(dest));
  return dest;
}
function expectNoSecrets(run: CliRun, extra: string[] = []): void {
  for (const secret of [PASSPHRASE, SECRET, server.token, ...extra]) {
    expect(run.stdout).not.toContain(secret);
    expect(run.stderr).not.toContain(secret);
  }
}

describe("lifeboat-agent backup → s3rver → gpg, zstd, tar, sqlite3 (round trip with the real tools)", () => {
  it("uploads a complete set whose archives open with plain gpg/zstd/tar and whose database checks out", async () => {
    const run = await cli(["backup"], agentEnv("roundtrip"));
    expect(run.stderr).not.toMatch(/^error:/m);
    expect(run.code).toBe(0);
    expectNoSecrets(run);
    const result = BackupResult.parse(JSON.parse(run.stdout));
    expect(result.passphraseCheck).toMatch(/no earlier backup/);
    // Manifest last: the one-copy layout's three objects exist, under the names of one UTC timestamp.
    expect(await keys("roundtrip")).toEqual([result.keys.logical, result.keys.manifest, result.keys.secrets].sort());
    expect(result.keys.secrets).toMatch(/^lifeboat_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_secrets\.tar\.zst\.gpg$/);

    const dir = tmp("lifeboat-rt-");
    const manifestFile = await download("roundtrip", result.keys.manifest, path.join(dir, "manifest.json"));
    const manifestText = readFileSync(manifestFile, "utf8");
    const manifest = BackupManifest.parse(JSON.parse(manifestText));
    expect(manifest).toEqual(result.manifest);
    for (const secret of [PASSPHRASE, SECRET, server.token.trim(), KEY_ID]) expect(manifestText).not.toContain(secret);
    expect(manifest.integrity).toBe("ok");
    expect(manifest.snapshotMethod).toBe("vacuum-into");

    const gnupg = useGnupgHome(tmp("lifeboat-gnupg-"));
    const gpgEnv = { GNUPGHOME: gnupg };
    const opened: Record<string, string> = {};
    for (const obj of manifest.objects) {
      const enc = await download("roundtrip", obj.key, path.join(dir, obj.key));
      // The manifest's sha256 and size describe exactly what the store holds.
      expect(sha(enc)).toBe(obj.sha256);
      expect(statSync(enc).size).toBe(obj.size);
      const zst = enc.replace(/\.gpg$/, "");
      sh("gpg", ["--batch", "--quiet", "--no-autostart", "--passphrase-file", passFile, "-o", zst, "-d", enc], gpgEnv); // decrypting needs no gpg-agent
      const plain = zst.replace(/\.zst$/, "");
      sh("zstd", ["-q", "-d", zst, "-o", plain]);
      opened[obj.kind] = plain;
    }

    // The logical backup: a SQLite file that passes sqlite3's own check, with every row.
    const logical = opened["lifeboat-logical"];
    expect(sh("sqlite3", [logical, "PRAGMA integrity_check"])).toBe("ok");
    const liveRows = Number(sh("sqlite3", [server.dbPath, "SELECT COUNT(*) FROM kine"]));
    expect(Number(sh("sqlite3", [logical, "SELECT COUNT(*) FROM kine"]))).toBe(liveRows);
    expect(manifest.database.rowCount).toBe(liveRows);
    expect(Number(sh("sqlite3", [logical, "SELECT MAX(id) FROM kine"]))).toBe(manifest.database.currentRevision);
    expect(Number(sh("sqlite3", [server.dbPath, "SELECT MAX(id) FROM kine"]))).toBe(manifest.database.currentRevision);

    // The secrets archive: the token, cred/, tls/; root-owned entries; never the database (stored once, above).
    const listing = sh("tar", ["--numeric-owner", "-tvf", opened["lifeboat-secrets"]]).split("\n");
    for (const line of listing) expect(line).toMatch(/^[-d]\S+ 0\/0 /);
    const unpacked = path.join(dir, "server");
    mkdirSync(unpacked);
    sh("tar", ["-xf", opened["lifeboat-secrets"], "-C", unpacked]);
    expect(existsSync(path.join(unpacked, "db"))).toBe(false);
    expect(readFileSync(path.join(unpacked, "token"), "utf8")).toBe(readFileSync(path.join(server.serverDir, "token"), "utf8"));
    expect(statSync(path.join(unpacked, "token")).mode & 0o777).toBe(0o600);
    expect(readFileSync(path.join(unpacked, "cred/passwd"), "utf8")).toContain("admin");
    expect(existsSync(path.join(unpacked, "tls/temporary-certs", `${"x".repeat(120)}.crt`))).toBe(true);
    expect(statSync(path.join(unpacked, "tls/temporary-certs", `${"x".repeat(120)}.crt`)).mode & 0o777).toBe(0o640);
    expect(existsSync(path.join(unpacked, "node-token"))).toBe(false);
    expect(() => lstatSync(path.join(unpacked, "tls/dangling-link"))).toThrow();
    expect(manifest.archivedPaths).not.toContain("db/state.db");
    expect(manifest.archivedPaths).toContain("token");
    expect(manifest.archivedPaths).toContain("cred/passwd");
    expect(manifest.archivedPaths).not.toContain("tls/dangling-link");
    // The agent's own reader (zstd-napi, which restores use) yields the same tar as the CLIs.
    const viaAgent = path.join(dir, "secrets-via-agent.tar");
    const secretsKey = manifest.objects.find((o) => o.kind === "lifeboat-secrets")!.key;
    await pipeline(await openArchive(createReadStream(path.join(dir, secretsKey)), PASSPHRASE, { zstd: true }), createWriteStream(viaAgent));
    expect(sha(viaAgent)).toBe(sha(opened["lifeboat-secrets"]));
    // Bytes stored: the database once (its archive) plus a few KB, not twice.
    const stored = manifest.objects.reduce((n, o) => n + o.size, 0);
    expect(stored).toBeLessThan(manifest.objects.find((o) => o.kind === "lifeboat-logical")!.size * 1.1 + 64 * 1024);

    // `list` sees the complete set.
    const list = await cli(["list", "--json"], agentEnv("roundtrip"));
    expect(list.code).toBe(0);
    const sets = JSON.parse(list.stdout).sets;
    expect(sets).toHaveLength(1);
    expect(sets[0]).toMatchObject({ id: result.setId, complete: true, missing: [] });
  });

  it("a second backup proves the passphrase against the first set, and `stats` prints live statistics", async () => {
    const run = await cli(["backup", "--no-retention"], agentEnv("roundtrip"));
    expect(run.code).toBe(0);
    const result = BackupResult.parse(JSON.parse(run.stdout));
    expect(result.passphraseCheck).toMatch(/opens the newest existing backup \(lifeboat_.*_secrets\.tar\.zst\.gpg\)/);
    expect(result.retention).toBeNull();
    const stats = await cli(["stats"], agentEnv("roundtrip"));
    expect(stats.code).toBe(0);
    const parsed = JSON.parse(stats.stdout);
    expect(parsed.stats.rowCount).toBe(Number(sh("sqlite3", [server.dbPath, "SELECT COUNT(*) FROM kine"])));
    expect(parsed.liveFiles.db).toBe(statSync(server.dbPath).size);
    // The stats snapshot is cleaned up.
    expect(readdirSync(path.join(work, "state", "snapshots"))).toEqual([]);
    // Retention with LIFEBOAT_KEEP_LAST=1 and no daily/weekly/monthly: the dry run names the older set,
    // without --yes nothing is deleted (no terminal to ask), with --yes it goes.
    const policy = { LIFEBOAT_KEEP_LAST: "1", LIFEBOAT_KEEP_DAILY: "0", LIFEBOAT_KEEP_WEEKLY: "0", LIFEBOAT_KEEP_MONTHLY: "0" };
    const dry = await cli(["retention", "--dry-run"], agentEnv("roundtrip", policy));
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^KEEP +lifeboat-\S+ +newest complete set \(always kept\)/m);
    expect(dry.stdout).toMatch(/^DELETE +lifeboat-\S+ +not among the last 1 sets/m);
    expect(dry.stdout).toMatch(/1 kept, 1 would delete, 0 not managed by retention\./);
    expect(dry.stdout).toMatch(/^Log: the store holds no continuous-protection log\.$/m);
    const refused = await cli(["retention"], agentEnv("roundtrip", policy));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/Nothing deleted\. Pass --yes/);
    expect(await keys("roundtrip")).toHaveLength(6);
    const applied = await cli(["retention", "--yes", "--json"], agentEnv("roundtrip", policy));
    expect(applied.code).toBe(0);
    expect(JSON.parse(applied.stdout).deleted).toHaveLength(3);
    expect(await keys("roundtrip")).toEqual([result.keys.logical, result.keys.manifest, result.keys.secrets].sort());
  });
});

describe("the reverse: archives made by the seed CronJob (gpg -c --cipher-algo AES256) open in the agent", () => {
  const stamp = new Date(Date.UTC(2024, 11, 18, 0, 0, 0));
  let seedDir: string;
  let seedDb: string;
  let seedTar: string;

  beforeAll(async () => {
    // Exactly the seed job's commands (../shared/bench/seed-cronjob.sh), with Debian's tools.
    seedDir = tmp("lifeboat-seed-");
    const gnupg = useGnupgHome(tmp("lifeboat-gnupg-"));
    const names = seedObjectNames(stamp);
    seedTar = path.join(seedDir, "k3s_db.tar");
    sh("tar", ["-cf", seedTar, "-C", path.dirname(server.dbPath), "."]);
    sh("zstd", ["-q", seedTar, "-o", seedTar + ".zst"]);
    sh(
      "gpg",
      ["--batch", "--yes", "--passphrase-file", passFile, "--cipher-algo", "AES256", "-c", "-o", path.join(seedDir, names.fileArchive), seedTar + ".zst"],
      { GNUPGHOME: gnupg },
    );
    seedDb = path.join(seedDir, "state.db");
    sh("sqlite3", [server.dbPath, `.backup '${seedDb}'`]);
    sh("gpg", ["--batch", "--yes", "--passphrase-file", passFile, "--cipher-algo", "AES256", "-c", "-o", path.join(seedDir, names.logical), seedDb], {
      GNUPGHOME: gnupg,
    });
    for (const prefix of ["seed-right", "seed-wrong"]) {
      const store = storeFor(prefix);
      for (const n of [names.fileArchive, names.logical]) await store.put(n, createReadStream(path.join(seedDir, n)));
    }
  });

  it("openArchive decrypts both seed archives to the exact bytes gpg encrypted", async () => {
    const names = seedObjectNames(stamp);
    const store = storeFor("seed-right");
    const db = path.join(seedDir, "via-agent.db");
    await pipeline(await openArchive(await store.get(names.logical), PASSPHRASE, { zstd: false }), createWriteStream(db));
    expect(sha(db)).toBe(sha(seedDb));
    const tarOut = path.join(seedDir, "via-agent.tar");
    await pipeline(await openArchive(await store.get(names.fileArchive), PASSPHRASE, { zstd: true }), createWriteStream(tarOut));
    expect(sha(tarOut)).toBe(sha(seedTar));
    expect(sh("tar", ["-tf", tarOut]).split("\n")).toContain("./state.db");
  });

  it("a backup into a bucket holding seed sets checks its passphrase against the newest seed archive", async () => {
    const ok = await cli(["backup", "--no-retention"], agentEnv("seed-right"));
    expect(ok.code).toBe(0);
    expect(BackupResult.parse(JSON.parse(ok.stdout)).passphraseCheck).toMatch(/opens the newest existing backup \(state_2024-12-18_00-00-00\.db\.gpg\)/);

    const other = path.join(work, "other-passphrase");
    writeFileSync(other, "not the seed passphrase\n");
    const before = await keys("seed-wrong");
    const bad = await cli(["backup"], agentEnv("seed-wrong", { LIFEBOAT_PASSPHRASE_FILE: other }));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/does not open the newest existing backup \(state_2024-12-18_00-00-00\.db\.gpg\)/);
    expectNoSecrets(bad, ["not the seed passphrase"]);
    expect(await keys("seed-wrong")).toEqual(before);
  });
});

describe("bad input: a clear error, a non-zero exit, nothing uploaded as a good backup", () => {
  it("wrong passphrase: refuses to add a set the usual passphrase cannot open (unless told it is on purpose)", async () => {
    const first = await cli(["backup"], agentEnv("wrong-pass"));
    expect(first.code).toBe(0);
    const before = await keys("wrong-pass");
    const other = path.join(work, "typo-passphrase");
    writeFileSync(other, "correct horse battery stapel\n");
    const run = await cli(["backup"], agentEnv("wrong-pass", { LIFEBOAT_PASSPHRASE_FILE: other }));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/passphrase in LIFEBOAT_PASSPHRASE_FILE does not open the newest existing backup/);
    expect(run.stderr).toMatch(/No manifest was uploaded/);
    expectNoSecrets(run, ["correct horse battery stapel"]);
    expect(await keys("wrong-pass")).toEqual(before);

    const onPurpose = await cli(["backup", "--allow-new-passphrase", "--no-retention"], agentEnv("wrong-pass", { LIFEBOAT_PASSPHRASE_FILE: other }));
    expect(onPurpose.code).toBe(0);
    expect(BackupResult.parse(JSON.parse(onPurpose.stdout)).passphraseCheck).toMatch(/new passphrase on purpose/);
  });

  it("missing passphrase file", async () => {
    const run = await cli(["backup"], agentEnv("no-pass", { LIFEBOAT_PASSPHRASE_FILE: path.join(work, "does-not-exist") }));
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/LIFEBOAT_PASSPHRASE_FILE: cannot read .*does-not-exist \(ENOENT\)/);
    expect(await keys("no-pass")).toEqual([]);
  });

  it("unreachable S3", async () => {
    const run = await cli(["backup"], agentEnv("unreachable", { AWS_S3_ENDPOINT: "http://127.0.0.1:9" }));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/backup store failed: .*cannot reach the endpoint.*Check AWS_S3_ENDPOINT/);
    expectNoSecrets(run);
    expect(await keys("unreachable")).toEqual([]);
  });

  it("a database path that does not exist", async () => {
    const dir = tmp("lifeboat-nodb-");
    mkdirSync(path.join(dir, "db"));
    writeFileSync(path.join(dir, "token"), "K10abc::server:pw\n");
    const run = await cli(["backup"], agentEnv("no-db", { LIFEBOAT_K3S_SERVER_DIR: dir }));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/There is no database at .*db\/state\.db\. Check LIFEBOAT_K3S_SERVER_DIR/);
    expect(await keys("no-db")).toEqual([]);
  });

  it("a file that is not SQLite", async () => {
    const dir = tmp("lifeboat-notdb-");
    mkdirSync(path.join(dir, "db"));
    writeFileSync(path.join(dir, "db", "state.db"), "definitely not a database\n".repeat(1000));
    writeFileSync(path.join(dir, "token"), "K10abc::server:pw\n");
    const run = await cli(["backup"], agentEnv("not-db", { LIFEBOAT_K3S_SERVER_DIR: dir }));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/is not a SQLite database/);
    expect(await keys("not-db")).toEqual([]);
  });

  it("a damaged database: the snapshot fails integrity_check and nothing is uploaded", async () => {
    const dir = tmp("lifeboat-damaged-");
    const damaged = makeTestServerDir(dir, { targetBytes: 2_000_000, seed: 5 });
    const size = statSync(damaged.dbPath).size;
    const buf = readFileSync(damaged.dbPath);
    buf.fill(0x5a, Math.floor(size / 4096 / 2) * 4096, Math.floor(size / 4096 / 2) * 4096 + 8 * 4096);
    writeFileSync(damaged.dbPath, buf);
    const run = await cli(["backup"], agentEnv("damaged", { LIFEBOAT_K3S_SERVER_DIR: damaged.serverDir }));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/damaged|integrity_check/);
    expect(run.stderr).toMatch(/lifeboat-agent health/);
    expect(await keys("damaged")).toEqual([]);
    // A page-for-page copy carries the damage over, so the upload starts while the check runs on its
    // worker thread; the check fails, and what was uploaded is removed again.
    const paged = await cli(["backup", "--method=backup-one-step"], agentEnv("damaged-pages", { LIFEBOAT_K3S_SERVER_DIR: damaged.serverDir }));
    expect(paged.code).toBe(1);
    expect(paged.stderr).toMatch(/Snapshot: done \(backup-one-step/);
    expect(paged.stderr).toMatch(/error: .*(damaged|integrity_check).*No manifest was uploaded/);
    expect(await keys("damaged-pages")).toEqual([]);
  });

  it("the manifest names the k3s on PATH by its `k3s --version`", async () => {
    const bin = tmp("lifeboat-k3sbin-");
    writeFileSync(
      path.join(bin, "k3s"),
      '#!/bin/sh\n[ "$1" = --version ] || exit 2\necho "k3s version v1.31.4+k3s1 (a1b2c3d4)"\necho "go version go1.22.9"\n',
      {
        mode: 0o755,
      },
    );
    const run = await cli(["backup", "--no-retention"], agentEnv("k3s-version", { PATH: `${bin}${path.delimiter}${process.env.PATH}` }));
    expect(run.code, run.stderr).toBe(0);
    expect(BackupResult.parse(JSON.parse(run.stdout)).manifest.k3sVersion).toBe("v1.31.4+k3s1");
  });

  it("no k3s token: the set would be useless for a restore, so the backup fails", async () => {
    const dir = tmp("lifeboat-notoken-");
    const s = makeTestServerDir(dir, { targetBytes: 500_000, seed: 6 });
    rmSync(path.join(s.serverDir, "token"));
    const run = await cli(["backup"], agentEnv("no-token", { LIFEBOAT_K3S_SERVER_DIR: s.serverDir }));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/no k3s token at .*token/);
    expect(await keys("no-token")).toEqual([]);
  });

  it("an empty or blank k3s token file is no token either: the backup fails before uploading anything", async () => {
    const dir = tmp("lifeboat-emptytoken-");
    const s = makeTestServerDir(dir, { targetBytes: 500_000, seed: 7 });
    writeFileSync(path.join(s.serverDir, "token"), " \n");
    const run = await cli(["backup"], agentEnv("empty-token", { LIFEBOAT_K3S_SERVER_DIR: s.serverDir }));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`The k3s token at ${path.join(s.serverDir, "token")} is empty.`);
    expect(await keys("empty-token")).toEqual([]);
  });

  it("an unknown option is a usage error", async () => {
    const run = await cli(["backup", "--nope"], agentEnv("usage"));
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/Unknown option --nope/);
  });
});
