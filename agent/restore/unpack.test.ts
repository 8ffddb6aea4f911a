import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import pino from "pino";
import { loadAgentConfig } from "../config";
import { makeDeps } from "../deps";
import { generateKineDb } from "../kine/generator";
import { btreePages } from "../testing/corrupt";
import { gpgEncrypt, treeState } from "../testing/restore-fixtures";
import { paxEntry, tarBytes, writeLifeboatArchive, type RawEntry } from "../testing/tar-builder";
import { getRestore, startRestore } from "./runner";
import { BadTarError, UnsafeArchiveError, extractTar, normalizeArchivePath } from "./unpack";

/**
 * Malicious archives (issue 4): path traversal, absolute paths, a symlink to /etc, a device node, a
 * 10 GB sparse bomb declared in the header, and their relatives. Each goes through a whole restore
 * (with confirmation given up front, so a bug would go on to swap): it must fail at staging, write
 * nothing outside the staging directory, and leave the server untouched.
 */

/** Bytes this process has handed to write() so far, all threads included. */
const written = () => Number(/^wchar: (\d+)$/m.exec(readFileSync("/proc/self/io", "utf8"))![1]);

const PASS = "malicious archive passphrase";
let work: string;
let passFile: string;
let dbBytes: Buffer;
let token: string;

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-unpack-"));
  passFile = path.join(work, "pass");
  writeFileSync(passFile, PASS + "\n");
  const g = generateKineDb(path.join(work, "good.db"), { targetBytes: 300_000, seed: 4 });
  dbBytes = readFileSync(path.join(work, "good.db"));
  token = g.token;
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

let n = 0;
function server() {
  const root = path.join(work, `s${++n}`);
  const serverDir = path.join(root, "k3s", "server");
  mkdirSync(path.join(serverDir, "db"), { recursive: true, mode: 0o700 });
  writeFileSync(path.join(serverDir, "db", "state.db"), dbBytes);
  writeFileSync(path.join(serverDir, "token"), token + "\n", { mode: 0o600 });
  const config = loadAgentConfig({
    LIFEBOAT_K3S_SERVER_DIR: serverDir,
    LIFEBOAT_STATE_DIR: path.join(root, "k3s", "lifeboat"),
    LIFEBOAT_PASSPHRASE_FILE: passFile,
    // A bug that let a malicious archive through would reach these: make them leave a trace.
    LIFEBOAT_K3S_STOP_CMD: `touch ${path.join(root, "STOPPED")}`,
    LIFEBOAT_K3S_START_CMD: "true",
    LIFEBOAT_K3S_STATUS_CMD: "echo active",
    LIFEBOAT_INTEGRITY_SCHEDULE: "off",
    LOG_LEVEL: "silent",
  });
  return { root, serverDir, deps: makeDeps(config, { logDestination: pino.destination("/dev/null") }) };
}

const file = (name: string, content: Buffer | string): RawEntry => ({ name, type: "0", content: Buffer.from(content) });
const STAMP = "2030-01-01_00-00-00";

/** Restores a Lifeboat server archive holding `entries`; returns the failure and where staging was. */
async function restoreArchive(entries: RawEntry[], opts: { seed?: boolean } = {}) {
  const s = server();
  const before = treeState(s.root);
  const archive = path.join(s.root, opts.seed ? `k3s_db_${STAMP}.tar.zst.gpg` : `lifeboat_${STAMP}_server.tar.zst.gpg`);
  const tar = tarBytes(entries);
  if (opts.seed) {
    const plain = path.join(work, `seed-${n}.tar.zst`);
    const tarFile = path.join(work, `seed-${n}.tar`);
    writeFileSync(tarFile, tar);
    execFileSync("zstd", ["-q", "-f", tarFile, "-o", plain]);
    gpgEncrypt(plain, archive, passFile, path.join(work, "gnupg"));
  } else await writeLifeboatArchive(archive, tar, PASS);
  const beforeWithArchive = treeState(s.root);
  const { restoreId, done } = await startRestore(s.deps, {
    source: { kind: "file", path: archive },
    dryRun: false,
    include: { token: true, cred: true, tls: true },
    confirm: true,
    compareWithLive: false,
  });
  const job = await done;
  const rec = getRestore(s.deps, restoreId);
  const staging = path.join(s.deps.config.stateDir, "restores", restoreId, "staging");
  // Nothing outside the restore's own directory changed (the server least of all), and staging is gone.
  const after = treeState(s.root);
  const stateDir = path.relative(s.root, s.deps.config.stateDir);
  const outside = (t: Record<string, string>) => Object.fromEntries(Object.entries(t).filter(([k]) => k !== stateDir && !k.startsWith(`${stateDir}/`)));
  expect(outside(after)).toEqual(outside(beforeWithArchive));
  expect(Object.keys(beforeWithArchive).length).toBe(Object.keys(before).length + 1);
  expect(existsSync(staging)).toBe(false);
  expect(existsSync(path.join(s.root, "STOPPED"))).toBe(false);
  // In the agent's own directory: only this restore's journal (the lock is released, staging removed).
  expect(readdirSync(s.deps.config.stateDir)).toEqual(["restores"]);
  expect(readdirSync(path.join(s.deps.config.stateDir, "restores"))).toEqual([restoreId]);
  expect(readdirSync(path.join(s.deps.config.stateDir, "restores", restoreId))).toEqual(["journal.json"]);
  expect(job.state).toBe("failed");
  expect(rec).toMatchObject({ status: "failed", targetState: "Nothing on the server changed." });
  return { error: job.error!, staging, root: s.root };
}

describe("malicious archives are refused before anything is written outside staging", () => {
  it("path traversal with ..", async () => {
    const { error, staging } = await restoreArchive([file("db/state.db", dbBytes), file("../../../../escaped-by-dotdot", "pwned")]);
    expect(error).toMatch(/was refused: The archive holds a path with "\.\." \(\.\.\/\.\.\/\.\.\/\.\.\/escaped-by-dotdot\)/);
    expect(error).toMatch(/Nothing was written outside the staging directory and nothing on the server changed\./);
    expect(existsSync(path.resolve(staging, "../../../../escaped-by-dotdot"))).toBe(false);
  });

  it("path traversal hidden in the middle of a path, in a seed archive made with gpg -c", async () => {
    const { error, staging } = await restoreArchive([file("./state.db", dbBytes), file("./tls/../../../../escaped-middle", "pwned")], { seed: true });
    expect(error).toMatch(/a path with "\.\."/);
    expect(existsSync(path.resolve(staging, "../../../escaped-middle"))).toBe(false);
  });

  it("an absolute path", async () => {
    const target = path.join(work, `absolute-${n + 1}`);
    const { error } = await restoreArchive([file("db/state.db", dbBytes), file(target, "pwned")]);
    expect(error).toMatch(/absolute path/);
    expect(existsSync(target)).toBe(false);
  });

  it("a symlink to /etc, then a file through it", async () => {
    const { error } = await restoreArchive([
      file("db/state.db", dbBytes),
      { name: "tls/etc", type: "2", linkname: "/etc" },
      file("tls/etc/lifeboat-pwned", "pwned"),
    ]);
    expect(error).toMatch(/a symbolic link \(tls\/etc\)/);
    expect(existsSync("/etc/lifeboat-pwned")).toBe(false);
  });

  it("a hard link to /etc/shadow", async () => {
    const { error } = await restoreArchive([file("db/state.db", dbBytes), { name: "tls/shadow", type: "1", linkname: "/etc/shadow" }]);
    expect(error).toMatch(/a hard link/);
  });

  it("a device node", async () => {
    const { error } = await restoreArchive([file("db/state.db", dbBytes), { name: "tls/sda", type: "3" }]);
    expect(error).toMatch(/a character device \(tls\/sda\)/);
  });

  it("a 10 GB sparse bomb declared in the header (refused from the header, nothing allocated)", async () => {
    // What this process wrote (/proc/self/io `wchar`, worker threads included; one test file per
    // forked worker): the filesystem's free blocks moved with every other test writing beside it.
    const before = written();
    const { error, staging } = await restoreArchive([
      { name: "db/state.db", type: "0", declaredSize: 10 * 1024 ** 3, content: Buffer.from("SQLite format 3\0") },
    ]);
    expect(error).toMatch(/declares 10737418240 bytes of content .* more than the \d+ this restore may unpack \(LIFEBOAT_RESTORE_MAX_BYTES/);
    expect(existsSync(path.join(staging, "db", "state.db"))).toBe(false);
    expect(written() - before).toBeLessThan(100 * 1024 * 1024);
  });

  it("GNU sparse entries and PAX sparse records", async () => {
    expect((await restoreArchive([{ name: "db/state.db", type: "S", content: Buffer.alloc(512) }])).error).toMatch(/a GNU sparse file/);
    expect((await restoreArchive([paxEntry({ "GNU.sparse.size": "10737418240", "GNU.sparse.numblocks": "1" }), file("db/state.db", dbBytes)])).error).toMatch(
      /sparse file \(PAX GNU\.sparse records\)/,
    );
  });

  it("a file the layout never contains", async () => {
    const { error } = await restoreArchive([file("db/state.db", dbBytes), file("etc/cron.d/lifeboat", "* * * * * root sh")]);
    expect(error).toMatch(/holds etc\/cron\.d\/lifeboat, which this kind of backup never contains/);
  });
});

describe("extractTar details", () => {
  const extract = (tar: Buffer, place = (p: string) => p) => {
    const root = mkdtempSync(path.join(work, "x-"));
    return { root, run: extractTar(Readable.from([tar]), { root, place, maxBytes: 1e9 }) };
  };

  it("reads PAX long names and keeps modes out of the way (files 0600)", async () => {
    const long = `tls/temporary-certs/${"x".repeat(150)}.crt`;
    const { root, run } = extract(tarBytes([paxEntry({ path: long }), file("ignored-name", "cert"), { name: "tls/", type: "5" }]));
    const out = await run;
    expect(out.map((e) => e.target)).toEqual([long, "tls"]);
    expect(readFileSync(path.join(root, long), "utf8")).toBe("cert");
    expect(statSync(path.join(root, long)).mode & 0o777).toBe(0o600);
  });

  it("a tar without its end marker is truncated", async () => {
    await expect(extract(tarBytes([file("a", "x")], { noEnd: true })).run).rejects.toBeInstanceOf(BadTarError);
  });

  it("a file cut short is truncated", async () => {
    const tar = tarBytes([file("a", Buffer.alloc(5000, 1))]);
    await expect(extract(tar.subarray(0, 2048)).run).rejects.toThrow(/ends early/);
  });

  it("a second copy of a file is refused", async () => {
    await expect(extract(tarBytes([file("a", "1"), file("./a", "2")])).run).rejects.toThrow(/twice/);
  });

  it("a damaged header is refused", async () => {
    const tar = tarBytes([file("a", "1")]);
    tar[10] ^= 0xff;
    await expect(extract(tar).run).rejects.toThrow(/checksum/);
  });

  it("normalises ./ and refuses NUL and backslashes", () => {
    expect(normalizeArchivePath("./db/./state.db")).toBe("db/state.db");
    expect(normalizeArchivePath("./")).toBe("");
    expect(() => normalizeArchivePath("db\\..\\x")).toThrow(UnsafeArchiveError);
  });
});

describe("a backup that decrypts fine but holds a damaged database", () => {
  it("fails at verify with integrity_check's words, and nothing changes", async () => {
    const s = server();
    const before = treeState(s.serverDir);
    const damaged = Buffer.from(dbBytes);
    // Zero a leaf of the kine table: the file still opens, integrity_check does not pass.
    const leaf = btreePages(path.join(work, "good.db"), "kine").filter((p) => p.pagetype === "leaf")[2].pageno;
    damaged.fill(0, 4096 * (leaf - 1), 4096 * leaf);
    const archive = path.join(s.root, `lifeboat_${STAMP}_state.db.zst.gpg`);
    await writeLifeboatArchive(archive, damaged, PASS);
    const { restoreId, done } = await startRestore(s.deps, {
      source: { kind: "file", path: archive },
      dryRun: false,
      include: { token: true, cred: false, tls: false },
      confirm: true,
      compareWithLive: false,
    });
    const job = await done;
    expect(job.state).toBe("failed");
    expect(job.steps.map((x) => x.state).slice(0, 2)).toEqual(["done", "failed"]);
    expect(job.error).toMatch(/^The backup's database fails PRAGMA integrity_check \(.+\)\. Restore another backup\. Nothing on the server changed\.$/);
    expect(getRestore(s.deps, restoreId).verification?.integrity.ok).toBe(false);
    expect(treeState(s.serverDir)).toEqual(before);
    expect(existsSync(path.join(s.root, "STOPPED"))).toBe(false);
  });
});
