import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, statfsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import pino from "pino";
import type { Job } from "../../lib/contracts/agent-jobs";
import type { BackupResult } from "../../lib/contracts/agent-backup";
import { encryptStream } from "../archive";
import { loadAgentConfig } from "../config";
import { makeDeps } from "../deps";
import type { AgentDeps } from "../module";
import { agentEnvFor, makeTestServer, type TestServer } from "../testing/restore-fixtures";
import { tarBytes } from "../testing/tar-builder";
import { runDrill } from "../testing/drills";
import { STAGING_RESERVE_BYTES, StagingBudget } from "./stage-limits";

/**
 * Bounded unpacking: every decompressed byte counts against LIFEBOAT_RESTORE_MAX_BYTES (or the room
 * on the staging disk), whatever the archive's headers declare; tar stops at its end-of-archive
 * marker; a directory never carries data; and what cannot fit is refused before the download. The
 * bombs are made with the real `zstd` CLI from 900 MiB of zeros (a few dozen kB each), encrypted by
 * Lifeboat's writer. What the agent wrote is read from /proc/self/io (`wchar`: every byte this
 * process, worker threads included, handed to write()).
 */

const PASS = "bounded unpack passphrase";
const BOMB = 900 * 1024 ** 2;
let work: string;
let passFile: string;
let target: TestServer;
let n = 0;

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-bounded-"));
  passFile = path.join(work, "pass");
  writeFileSync(passFile, PASS + "\n");
  target = makeTestServer(path.join(work, "target"), { seed: 41, marker: "marker-B" });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const depsFor = (server: TestServer, extra: Record<string, string> = {}): AgentDeps =>
  makeDeps(loadAgentConfig({ ...agentEnvFor(server), LIFEBOAT_PASSPHRASE_FILE: passFile, ...extra }), { logDestination: pino.destination("/dev/null") });

/** Bytes this process has written so far (all threads; and children it reaped, so read it after making a bomb). */
function written(): number {
  return Number(/^wchar: (\d+)$/m.exec(readFileSync("/proc/self/io", "utf8"))![1]);
}

/** `prefix` followed by `zeros` zero bytes, through the real zstd CLI, then Lifeboat's OpenPGP writer, as `name`. */
async function bomb(name: string, prefix: Buffer, zeros: number): Promise<string> {
  const dir = path.join(work, `bomb-${++n}`);
  mkdirSync(dir);
  writeFileSync(path.join(dir, "prefix"), prefix);
  execFileSync("sh", ["-c", `{ cat prefix; head -c ${zeros} /dev/zero; } | zstd -q -c > plain.zst`], { cwd: dir });
  const file = path.join(dir, name);
  await pipeline(await encryptStream(createReadStream(path.join(dir, "plain.zst")), PASS), createWriteStream(file));
  return file;
}

async function drillFile(deps: AgentDeps, file: string): Promise<Job> {
  return runDrill(deps, { kind: "file", path: file });
}

describe("every decompressed byte counts", () => {
  it("a 900 MiB zstd bomb in a database archive stops at LIFEBOAT_RESTORE_MAX_BYTES, having written about that much", async () => {
    const file = await bomb("lifeboat_2032-01-01_00-00-00_state.db.zst.gpg", Buffer.from("SQLite format 3\0"), BOMB);
    expect(statSync(file).size).toBeLessThan(100_000);
    const deps = depsFor(target, { LIFEBOAT_RESTORE_MAX_BYTES: String(64 * 1024 ** 2) });
    const before = written();
    const job = await drillFile(deps, file);
    const wrote = written() - before;
    expect(job.state).toBe("failed");
    expect(job.error).toMatch(
      /expands to more than LIFEBOAT_RESTORE_MAX_BYTES \(64 MiB\), the most a restore unpacks; refusing it\..*Nothing on the server changed\.$/,
    );
    expect(wrote).toBeGreaterThan(32 * 1024 ** 2);
    expect(wrote).toBeLessThan(80 * 1024 ** 2);
    expect(existsSync(path.join(deps.config.stateDir, "restores", ".lock"))).toBe(false);
  });

  it("tar stops at its end-of-archive marker: 900 MiB of zeros after it fail within a record's padding, nothing else after it at all", async () => {
    const tar = tarBytes([
      { name: "db", type: "5" },
      { name: "db/state.db", type: "0", content: readFileSync(target.dbPath) },
    ]);
    const deps = depsFor(target);
    const zerosFile = await bomb("lifeboat_2032-01-01_00-00-01_server.tar.zst.gpg", tar, BOMB);
    const before = written();
    const zeros = await drillFile(deps, zerosFile);
    expect(zeros.state).toBe("failed");
    expect(zeros.error).toMatch(/is damaged: The tar archive goes on for more than 1048576 bytes of zeros after its end-of-archive marker/);
    expect(written() - before).toBeLessThan(16 * 1024 ** 2);

    const junk = Buffer.concat([tar, Buffer.alloc(4096), Buffer.from("more data")]);
    const after = await drillFile(deps, await bomb("lifeboat_2032-01-01_00-00-02_server.tar.zst.gpg", junk, 0));
    expect(after.state).toBe("failed");
    expect(after.error).toMatch(/is damaged: The tar archive goes on after its end-of-archive marker/);

    // A record's worth of zero padding (GNU tar writes 10 KiB records) is what tar writes: fine.
    const padded = await drillFile(deps, await bomb("lifeboat_2032-01-01_00-00-03_server.tar.zst.gpg", tar, 9 * 1024));
    expect(padded.state, padded.error ?? "").toBe("succeeded");
  });

  it("a directory entry that carries 900 MiB of data is refused at its header", async () => {
    const dirWithData = tarBytes([{ name: "db", type: "5", declaredSize: BOMB }], { noEnd: true });
    const deps = depsFor(target);
    const file = await bomb("lifeboat_2032-01-01_00-00-04_server.tar.zst.gpg", dirWithData, BOMB);
    const before = written();
    const job = await drillFile(deps, file);
    expect(job.state).toBe("failed");
    expect(job.error).toMatch(/directory entry db\/? carries 943718400 bytes of data/);
    expect(written() - before).toBeLessThan(16 * 1024 ** 2);
  });
});

describe("room on the staging disk", () => {
  it("the budget is LIFEBOAT_RESTORE_MAX_BYTES or the free space above the reserve, whichever is lower, and says which", () => {
    const roomy = new StagingBudget(2 * 1024 ** 3, 50 * 1024 ** 3, "/var/lib/rancher/k3s/lifeboat");
    expect(roomy.max).toBe(2 * 1024 ** 3);
    expect(() => roomy.precheck("x.gpg", 3 * 1024 ** 3)).toThrow(/x\.gpg unpacks to at least 3072 MiB, more than LIFEBOAT_RESTORE_MAX_BYTES \(2048 MiB\)/);
    const tight = new StagingBudget(2 * 1024 ** 3, STAGING_RESERVE_BYTES + 100 * 1024 ** 2, "/var/lib/rancher/k3s/lifeboat");
    expect(tight.max).toBe(100 * 1024 ** 2);
    expect(() => tight.precheck("x.gpg", 200 * 1024 ** 2)).toThrow(
      /more than the room staging has on \/var\/lib\/rancher\/k3s\/lifeboat \(356 MiB free, less 256 MiB/,
    );
    expect(() => tight.precheck("x.gpg", 50 * 1024 ** 2)).not.toThrow();
    expect(new StagingBudget(2 * 1024 ** 3, 10 * 1024 ** 2, "/d").max).toBe(0);
  });

  it("a Lifeboat set whose manifest says it cannot fit is refused before a byte is downloaded", async () => {
    const store = path.join(work, "store");
    mkdirSync(store);
    const source = makeTestServer(path.join(work, "source"), { seed: 42, marker: "marker-S" });
    const { startBackupJob } = await import("../backup/run-backup");
    const backup = await startBackupJob(depsFor(source, { LIFEBOAT_BACKUP_DIR: store }), { retention: false, allowNewPassphrase: true }, "cli").done;
    expect(backup.state, backup.error ?? "").toBe("succeeded");
    const set = backup.result as BackupResult;
    // The database archive is well under 1 MB stored; the database inside is bigger: only the manifest tells.
    const limit = Math.floor(set.manifest.database.fileSize / 2);
    expect(statSync(path.join(store, set.keys.logical)).size).toBeLessThan(limit);
    const deps = depsFor(target, { LIFEBOAT_BACKUP_DIR: store, LIFEBOAT_RESTORE_MAX_BYTES: String(limit) });
    const job = await runDrill(deps, { kind: "backup", setId: set.setId });
    expect(job.state).toBe("failed");
    expect(job.error).toMatch(/unpacks to at least [\d.]+ MiB, more than LIFEBOAT_RESTORE_MAX_BYTES/);
    expect(job.bytesDone).toBe(0);
  });

  it("on a small filesystem, a bomb stops at the room above the reserve: the disk never fills", async () => {
    // A real small filesystem: a tmpfs holding the whole server directory (staging is on it too).
    const mnt = path.join(work, "small");
    mkdirSync(mnt);
    const size = STAGING_RESERVE_BYTES + 48 * 1024 ** 2;
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", mnt]);
    if (mounted.status !== 0) {
      // Not root, or no mount in this container: the budget's arithmetic is proven above.
      console.warn(`skipped: cannot mount a tmpfs here (${String(mounted.stderr).trim()})`);
      return;
    }
    try {
      const small = makeTestServer(mnt, { seed: 43, marker: "marker-M" });
      const file = await bomb("lifeboat_2032-01-01_00-00-05_state.db.zst.gpg", Buffer.from("SQLite format 3\0"), BOMB);
      const deps = depsFor(small);
      let lowest = Infinity;
      const sample = setInterval(() => (lowest = Math.min(lowest, statfsSync(mnt).bavail * statfsSync(mnt).bsize)), 5);
      const job = await drillFile(deps, file).finally(() => clearInterval(sample));
      expect(job.state).toBe("failed");
      expect(job.error).toMatch(
        /expands to more than the room staging has on .* less 256 MiB staging leaves for k3s\)\. Free space there.*Nothing on the server changed\.$/,
      );
      expect(lowest).toBeGreaterThan(STAGING_RESERVE_BYTES - 2 * 1024 ** 2);
    } finally {
      spawnSync("umount", [mnt]);
    }
  });
});
