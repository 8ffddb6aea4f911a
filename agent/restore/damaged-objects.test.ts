import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import pino from "pino";
import { startEmbeddedS3, type EmbeddedS3 } from "../../lib/storage/embedded-s3";
import { S3BackupStore } from "../../lib/storage";
import { runProcess } from "../../lib/process";
import { formatStamp, lifeboatObjectNames, seedObjectNames, twoCopyLifeboatObjectNames } from "../../lib/contracts/backup-names";
import type { Job } from "../../lib/contracts/agent-jobs";
import type { BackupResult } from "../../lib/contracts/agent-backup";
import type { BackupManifest } from "../../lib/contracts/manifest";
import { loadAgentConfig } from "../config";
import { makeDeps } from "../deps";
import type { AgentDeps } from "../module";
import { agentEnvFor, gpgEncrypt, hasMarker, makeTestServer, treeState, type TestServer } from "../testing/restore-fixtures";
import { runDrill } from "../testing/drills";

/**
 * Every kind of backup object, damaged every way a disk, a network or a person damages it — cut at
 * many offsets, bytes flipped, zero-length, not OpenPGP at all, the wrong passphrase — goes through a
 * restore drill (the dashboard's automatic one: POST /restores with dryRun, here in-process) from a
 * real s3rver. Each must fail with a sentence ending "Nothing on the server changed.", never a stack
 * trace, an unhandled 'error' event, a crash or a hang, and leave the datastore lock free for the
 * next one. The objects are the real thing: a Lifeboat set from the backup pipeline, the seed
 * CronJob's two archives from `tar | zstd | gpg -c` and `sqlite3 .backup | gpg -c`.
 */

const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(ROOT, "agent/bin/lifeboat-agent.js");
const KEY = "damage-test-key";
const SECRET = "damage-test-secret-Zx9";
const PASSPHRASE = "damaged objects passphrase";
/** A drill of a small object ends in well under a second; anything near this is a hang. */
const HANG_MS = 30_000;

let s3: EmbeddedS3;
let work: string;
let passFile: string;
let wrongPassFile: string;
let source: TestServer;
let target: TestServer;
let good: Record<"seedLogical" | "seedFiles" | "logical" | "server" | "token" | "secrets", Buffer>;
/** The one-copy set's manifest, and its two-copy twin's database archive (the same database, other bytes). */
let goodManifest: BackupManifest;
let otherLogical: Buffer;
const uncaught: unknown[] = [];
const onUncaught = (err: unknown) => uncaught.push(err);

const s3Env = () => ({ AWS_S3_ENDPOINT: s3.endpoint, AWS_S3_BUCKET: "backups", AWS_ACCESS_KEY_ID: KEY, AWS_SECRET_ACCESS_KEY: SECRET });
const store = () => new S3BackupStore({ endpoint: s3.endpoint, bucket: "backups", accessKeyId: KEY, secretAccessKey: SECRET, region: "us-east-1" });
const depsFor = (server: TestServer, extra: Record<string, string> = {}): AgentDeps =>
  makeDeps(loadAgentConfig({ ...agentEnvFor(server), ...s3Env(), LIFEBOAT_PASSPHRASE_FILE: passFile, ...extra }), {
    logDestination: pino.destination("/dev/null"),
  });

/** A fresh, unused set time for each damaged object, so each is its own set as a new upload would be. */
let clock = Date.parse("2031-01-01T00:00:00Z");
const nextTime = () => new Date((clock += 1000));

beforeAll(async () => {
  process.on("uncaughtException", onUncaught);
  process.on("unhandledRejection", onUncaught);
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-damaged-"));
  s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["backups"], accessKeyId: KEY, secretAccessKey: SECRET });
  passFile = path.join(work, "passphrase");
  writeFileSync(passFile, PASSPHRASE + "\n", { mode: 0o400 });
  wrongPassFile = path.join(work, "wrong-passphrase");
  writeFileSync(wrongPassFile, "not the passphrase\n", { mode: 0o400 });

  source = makeTestServer(path.join(work, "source"), { seed: 31, marker: "marker-S" });
  // The seed archives hold no token: the target has the source's, as a restore of them needs.
  target = makeTestServer(path.join(work, "target"), { seed: 32, marker: "marker-T", token: source.token });
  const { startBackupJob } = await import("../backup/run-backup");
  const job = await startBackupJob(depsFor(source), { retention: false, allowNewPassphrase: true }, "cli").done;
  expect(job.state, job.error ?? "").toBe("succeeded");
  const set = job.result as BackupResult;
  // The same server in the two-copy layout written before issue 15 (server and token archives).
  const older = await startBackupJob(depsFor(source), { retention: false, allowNewPassphrase: false, layout: "two-copies" }, "cli").done;
  expect(older.state, older.error ?? "").toBe("succeeded");
  const twoCopy = older.result as BackupResult;
  const get = async (key: string) => {
    const parts: Buffer[] = [];
    for await (const c of await store().get(key)) parts.push(c as Buffer);
    return Buffer.concat(parts);
  };
  // The seed CronJob's archives, made with the real tools.
  const seed = path.join(work, "seed");
  mkdirSync(seed);
  execFileSync("sh", ["-c", `tar -cf - -C ${JSON.stringify(path.dirname(source.dbPath))} . | zstd -q -o ${seed}/files.tar.zst`]);
  execFileSync("sqlite3", [source.dbPath, `.backup '${seed}/state.db'`]);
  gpgEncrypt(path.join(seed, "files.tar.zst"), path.join(seed, "files.gpg"), passFile, path.join(work, "gnupg"));
  gpgEncrypt(path.join(seed, "state.db"), path.join(seed, "state.gpg"), passFile, path.join(work, "gnupg"));
  good = {
    seedLogical: readFileSync(path.join(seed, "state.gpg")),
    seedFiles: readFileSync(path.join(seed, "files.gpg")),
    logical: await get(set.keys.logical),
    secrets: await get(set.keys.secrets!),
    server: await get(twoCopy.keys.files!),
    token: await get(twoCopy.keys.token!),
  };
  goodManifest = JSON.parse((await get(set.keys.manifest)).toString("utf8")) as BackupManifest;
  otherLogical = await get(twoCopy.keys.logical);
}, 180_000);

afterAll(async () => {
  process.off("uncaughtException", onUncaught);
  process.off("unhandledRejection", onUncaught);
  await s3?.stop();
  // gpg started an agent for its home (the key below needs one): stop it before its directory goes.
  execFileSync("gpgconf", ["--homedir", path.join(work, "gnupg"), "--kill", "gpg-agent"], { stdio: "ignore" });
  rmSync(work, { recursive: true, force: true });
});

type Kind = keyof typeof good;

/** Puts `bytes` in the store as a new object of `kind` (the token beside an intact database archive) and returns the key to restore. */
async function upload(kind: Kind, bytes: Buffer): Promise<string> {
  const t = nextTime();
  const put = (key: string, b: Buffer) => store().put(key, Readable.from([b]));
  const lb = { ...twoCopyLifeboatObjectNames(t), ...lifeboatObjectNames(t) };
  const seed = seedObjectNames(t);
  switch (kind) {
    case "seedLogical":
      return put(seed.logical, bytes).then(() => seed.logical);
    case "seedFiles":
      return put(seed.fileArchive, bytes).then(() => seed.fileArchive);
    case "logical":
      return put(lb.logical, bytes).then(() => lb.logical);
    case "server":
      return put(lb.files, bytes).then(() => lb.files);
    case "token":
      await put(lb.logical, good.logical);
      await put(lb.token, bytes);
      return lb.logical;
    case "secrets":
      await put(lb.logical, good.logical);
      await put(lb.secrets, bytes);
      return lb.logical;
  }
}

/** Runs a drill of `key` (as the dashboard does) and resolves with its job, or rejects when it hangs. */
async function drill(deps: AgentDeps, key: string): Promise<Job> {
  const done = runDrill(deps, { kind: "object", key }, { compareWithLive: true });
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`the drill of ${key} hangs`)), HANG_MS)));
  return Promise.race([done, hang]).finally(() => clearTimeout(timer));
}

/** What every failed drill must look like: a sentence, nothing changed, the lock and the staging gone. */
function expectCleanFailure(deps: AgentDeps, job: Job, what: string): void {
  expect(job.state, what).toBe("failed");
  expect(job.error, what).toMatch(/Nothing on the server changed\.$/);
  expect(job.error, what).not.toMatch(/\n\s+at |Unhandled|undefined|\[object /);
  expect(job.error, what).not.toContain(PASSPHRASE);
  expect(job.steps.find((s) => s.state === "failed")?.name, what).toBe("stage");
  expect(existsSync(path.join(deps.config.stateDir, "restores", ".lock")), `${what}: the datastore lock is released`).toBe(false);
}

/** The damage done to one object: cut short at many offsets, bytes flipped, empty, not OpenPGP. */
function damaged(bytes: Buffer): { label: string; bytes: Buffer }[] {
  const n = bytes.length;
  const cuts = [1, 16, 100, 600, 3000, Math.floor(n / 4), Math.floor(n / 2), n - 100, n - 23, n - 22, n - 1].filter((c) => c > 0 && c < n);
  const flips = [60, Math.floor(n / 3), Math.floor((2 * n) / 3), n - 10].filter((f) => f > 0 && f < n);
  return [
    ...[...new Set(cuts)].map((c) => ({ label: `cut to ${c} of ${n} bytes`, bytes: bytes.subarray(0, c) })),
    ...flips.map((f) => {
      const b = Buffer.from(bytes);
      for (let i = f; i < Math.min(n, f + 4); i++) b[i] ^= 0x5a;
      return { label: `4 bytes flipped at ${f} of ${n}`, bytes: b };
    }),
    { label: "zero-length", bytes: Buffer.alloc(0) },
    { label: "random bytes, not OpenPGP", bytes: randomBytes(5000) },
    { label: "a plain SQLite file, not encrypted", bytes: readFileSync(source.dbPath) },
  ];
}

describe("a damaged object of any kind fails its drill with a sentence, never a crash or a hang", () => {
  for (const kind of ["seedLogical", "seedFiles", "logical", "server", "token", "secrets"] as Kind[]) {
    it(`${kind}: the intact object passes; cut, flipped, empty, foreign or with the wrong passphrase it fails cleanly`, async () => {
      const deps = depsFor(target);
      // The intact object drills fine through the same path (so a failure below is the damage's).
      const ok = await drill(deps, await upload(kind, good[kind]));
      expect(ok.state, ok.error ?? "").toBe("succeeded");
      // (After it: reading the live database for the comparison gives it its -wal and -shm.)
      const before = treeState(target.serverDir, { skipDbContent: true });
      const wrong = await drill(depsFor(target, { LIFEBOAT_PASSPHRASE_FILE: wrongPassFile }), await upload(kind, good[kind]));
      expectCleanFailure(deps, wrong, "wrong passphrase");
      expect(wrong.error).toMatch(/passphrase does not open/);
      for (const d of damaged(good[kind])) {
        const job = await drill(deps, await upload(kind, d.bytes));
        expectCleanFailure(deps, job, d.label);
      }
      expect(treeState(target.serverDir, { skipDbContent: true })).toEqual(before);
      expect(hasMarker(target.dbPath, target.marker)).toBe(true);
      expect(uncaught).toEqual([]);
    }, 240_000);
  }
});

describe("the issue's cases", () => {
  it("the first 3,000 bytes of a seed logical backup, uploaded as a new set, fail its drill through the HTTP API; the next drill runs", async () => {
    const { buildAgentApp } = await import("../server");
    const app = buildAgentApp(depsFor(target, { LIFEBOAT_AGENT_TOKEN: "damaged-objects-agent-token-0123456789" }));
    const { url } = await app.listen(0, "127.0.0.1");
    const call = async (method: string, p: string, body?: unknown) => {
      const res = await fetch(url + p, {
        method,
        headers: { authorization: "Bearer damaged-objects-agent-token-0123456789", "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, json: (await res.json()) as any };
    };
    const drillOver = async (setId: string) => {
      const started = await call("POST", "/restores", { source: { kind: "backup", setId }, dryRun: true });
      expect(started.status).toBe(202);
      const deadline = Date.now() + HANG_MS;
      for (;;) {
        const job = (await call("GET", `/jobs/${started.json.jobId}`)).json as Job;
        if (job.state !== "running") return job;
        if (Date.now() > deadline) throw new Error(`drill of ${setId} still at "${job.step}" after ${HANG_MS / 1000} s`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      const t = nextTime();
      await store().put(seedObjectNames(t).logical, Readable.from([good.seedLogical.subarray(0, 3000)]));
      const cut = await drillOver(`seed-${formatStamp(t)}`);
      expectCleanFailure(app.deps, cut, "3,000 bytes");
      expect(cut.error).toMatch(/is damaged: The archive ends early/);
      const t2 = nextTime();
      await store().put(seedObjectNames(t2).logical, Readable.from([good.seedLogical]));
      const next = await drillOver(`seed-${formatStamp(t2)}`);
      expect(next.state, next.error ?? "").toBe("succeeded");
    } finally {
      await app.close();
    }
  });

  it("`lifeboat-agent restore <file> --dry-run` of a cut seed logical backup and a cut Lifeboat database archive: exit 1 with the reason", async () => {
    const dir = path.join(work, "cli");
    mkdirSync(dir, { recursive: true });
    const env = { PATH: process.env.PATH!, HOME: process.env.HOME ?? "/root", ...agentEnvFor(target), LIFEBOAT_PASSPHRASE_FILE: passFile };
    for (const [name, bytes] of [
      [`state_${formatStamp(nextTime())}.db.gpg`, good.seedLogical.subarray(0, 3000)],
      [`lifeboat_${formatStamp(nextTime())}_state.db.zst.gpg`, good.logical.subarray(0, Math.floor(good.logical.length / 2))],
    ] as const) {
      writeFileSync(path.join(dir, name), bytes);
      const run = await runProcess(process.execPath, [BIN, "restore", path.join(dir, name), "--dry-run"], { env: env as unknown as NodeJS.ProcessEnv });
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toMatch(new RegExp(`error: .*${name.replace(/\./g, "\\.")} is damaged: The archive ends early.*Nothing on the server changed\\.`));
      expect(run.stderr).not.toMatch(/Unhandled|\n\s+at /);
      expect(JSON.parse(run.stdout)).toMatchObject({ kind: "drill", status: "failed" });
    }
    expect(existsSync(path.join(target.root, "lifeboat", "restores", ".lock"))).toBe(false);
  }, 180_000);
});

describe("objects other tools made", () => {
  /** Runs `gpg` with the test's own home (its agent is stopped when the file's work dir goes). */
  const gpg = (args: string[]) =>
    execFileSync("gpg", ["--batch", "--yes", ...args], { env: { ...process.env, GNUPGHOME: path.join(work, "gnupg") }, stdio: "pipe" });
  /** A seed logical backup (`state_<ts>.db.gpg`) made by `gpg` with `args`, uploaded as a new set. */
  async function seedLogical(args: string[]): Promise<string> {
    const out = path.join(work, "other-tool.gpg");
    gpg([...args, "-o", out, path.join(work, "seed", "state.db")]);
    const key = seedObjectNames(nextTime()).logical;
    await store().put(key, Readable.from([readFileSync(out)]));
    return key;
  }

  /** A seed file archive (`k3s_db_<ts>.tar.zst.gpg`) whose `tar.zst` the shell pipeline `make` writes to $OUT (the source's db/ is $DB), uploaded as a new set. */
  async function seedFiles(make: string): Promise<string> {
    const zst = path.join(work, "other-tool.tar.zst");
    const out = path.join(work, "other-tool.gpg");
    rmSync(zst, { force: true });
    execFileSync("sh", ["-c", make], { env: { ...process.env, DB: path.dirname(source.dbPath), OUT: zst }, stdio: "pipe" });
    gpgEncrypt(zst, out, passFile, path.join(work, "gnupg"));
    const key = seedObjectNames(nextTime()).fileArchive;
    await store().put(key, Readable.from([readFileSync(out)]));
    return key;
  }

  it("ASCII-armored (gpg --armor), also with BZip2 inside (openpgp.js reads that): the drill opens it; cut short it fails with a sentence", async () => {
    const deps = depsFor(target);
    for (const extra of [[], ["--compress-algo", "bzip2"]]) {
      const job = await drill(deps, await seedLogical(["--passphrase-file", passFile, "--armor", ...extra, "-c"]));
      expect(job.state, `${extra.join(" ")}: ${job.error}`).toBe("succeeded");
    }
    const key = await seedLogical(["--passphrase-file", passFile, "--armor", "-c"]);
    const armored = readFileSync(path.join(work, "other-tool.gpg"));
    await store().put(key, Readable.from([armored.subarray(0, armored.length - 100)]));
    const cut = await drill(deps, key);
    expectCleanFailure(deps, cut, "armor cut short");
    expect(cut.error).toMatch(/is damaged: The archive ends early/);
  }, 60_000);

  it("zstd streams other than the seed job's: several frames, a skippable frame, no checksum, --long=27 all open", async () => {
    const deps = depsFor(target);
    for (const make of [
      `tar -cf - -C "$DB" . > "$OUT.tar" && head -c 100000 "$OUT.tar" | zstd -q > "$OUT" && tail -c +100001 "$OUT.tar" | zstd -q >> "$OUT"`,
      `printf 'P*M\\030\\004\\000\\000\\000abcd' > "$OUT" && tar -cf - -C "$DB" . | zstd -q >> "$OUT"`,
      `tar -cf - -C "$DB" . | zstd -q --no-check > "$OUT"`,
      `tar -cf - -C "$DB" . | zstd -q --long=27 > "$OUT"`,
    ]) {
      const job = await drill(deps, await seedFiles(make));
      expect(job.state, `${make}: ${job.error}`).toBe("succeeded");
    }
  }, 60_000);

  it("zstd with a window over 128 MiB (--long=28 and up, from a pipe) or a dictionary is refused with a sentence that says so, not called damaged", async () => {
    const deps = depsFor(target);
    for (const long of [28, 31]) {
      const job = await drill(deps, await seedFiles(`tar -cf - -C "$DB" . | zstd -q --long=${long} > "$OUT"`));
      expectCleanFailure(deps, job, `--long=${long}`);
      expect(job.error).toMatch(/cannot be opened: Its zstd data was compressed with a window over 128 MiB \(zstd --long=28 or more\)/);
      expect(job.error).not.toMatch(/damaged/);
    }
    // A dictionary (zstd -D) the restore does not have: the same kind of sentence.
    const dict = await drill(
      deps,
      await seedFiles(`zstd -q -f --train -B2048 --maxdict=16384 "$DB/state.db" -o "$OUT.dict" && tar -cf - -C "$DB" . | zstd -q -D "$OUT.dict" > "$OUT"`),
    );
    expectCleanFailure(deps, dict, "dictionary");
    expect(dict.error).toMatch(/cannot be opened: Its zstd data was compressed with a dictionary \(zstd -D\)/);
  }, 60_000);

  it("a file archive compressed with gzip, xz or bzip2, or not at all, instead of zstd: refused with a sentence naming what it is, not called damaged", async () => {
    const deps = depsFor(target);
    for (const [make, what] of [
      [`tar -czf "$OUT" -C "$DB" .`, /Its data is gzip data, not zstd/],
      [`tar -cJf "$OUT" -C "$DB" .`, /Its data is xz data, not zstd/],
      [`tar -cjf "$OUT" -C "$DB" .`, /Its data is bzip2 data, not zstd/],
      [`tar -cf "$OUT" -C "$DB" .`, /Its data is an uncompressed tar archive, not zstd/],
    ] as [string, RegExp][]) {
      const job = await drill(deps, await seedFiles(make));
      expectCleanFailure(deps, job, make);
      expect(job.error).toMatch(/cannot be opened: /);
      expect(job.error).toMatch(what);
    }
  }, 60_000);

  it("encrypted to a public key (gpg -e): refused at once with a sentence that asks for a passphrase-encrypted archive, not a wrong passphrase", async () => {
    gpg(["--passphrase", "", "--pinentry-mode", "loopback", "--quick-gen-key", "Backups <backups@example.com>", "default", "default", "never"]);
    const deps = depsFor(target);
    const job = await drill(deps, await seedLogical(["--trust-model", "always", "-e", "-r", "backups@example.com"]));
    expectCleanFailure(deps, job, "public key");
    expect(job.error).toMatch(/cannot be opened: The archive was encrypted to a public key .* symmetric passphrase \(gpg -c\)/);
    expect(job.error).not.toMatch(/passphrase does not open/);
    // Encrypted to the key and with the passphrase too: the passphrase opens it.
    const both = await drill(deps, await seedLogical(["--trust-model", "always", "-e", "-r", "backups@example.com", "--passphrase-file", passFile, "-c"]));
    expect(both.state, both.error ?? "").toBe("succeeded");
  }, 60_000);
});

describe("a Lifeboat set whose objects disagree with its manifest", () => {
  /** Uploads the one-copy set again at a new time (its manifest naming the new keys), with `logical` as its database archive. */
  async function copyOfSet(logical: Buffer): Promise<string> {
    const t = nextTime();
    const names = lifeboatObjectNames(t);
    const put = (key: string, b: Buffer) => store().put(key, Readable.from([b]));
    const rename = (key: string) => (key.endsWith("_state.db.zst.gpg") ? names.logical : key.endsWith("_secrets.tar.zst.gpg") ? names.secrets : names.manifest);
    await put(names.logical, logical);
    await put(names.secrets, good.secrets);
    const manifest = { ...goodManifest, setId: `lifeboat-${formatStamp(t)}`, objects: goodManifest.objects.map((o) => ({ ...o, key: rename(o.key) })) };
    await put(names.manifest, Buffer.from(JSON.stringify(manifest)));
    return `lifeboat-${formatStamp(t)}`;
  }

  it("a database archive that is not the one the manifest records (another backup's, whole and valid) fails the drill; the set as uploaded passes", async () => {
    const deps = depsFor(target);
    const same = await runDrill(deps, { kind: "backup", setId: await copyOfSet(good.logical) });
    expect(same.state, same.error ?? "").toBe("succeeded");
    const before = treeState(target.serverDir, { skipDbContent: true });
    const job = await runDrill(deps, { kind: "backup", setId: await copyOfSet(otherLogical) });
    expectCleanFailure(deps, job, "replaced database archive");
    expect(job.error).toMatch(/_state\.db\.zst\.gpg is damaged: Its sha256 \(\w{12}…\) is not the one the set's manifest records \(\w{12}…\)/);
    expect(treeState(target.serverDir, { skipDbContent: true })).toEqual(before);
    expect(hasMarker(target.dbPath, target.marker)).toBe(true);
  }, 60_000);
});
