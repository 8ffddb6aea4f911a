import { describe, it, expect, afterAll } from "vitest";
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { Readable } from "node:stream";
import { FsBackupStore } from "../../lib/storage/fs-backup-store";
import { groupObjects } from "../../lib/backups/grouping";
import { listAll } from "../../lib/storage/backup-store";
import { seedObjectNames } from "../../lib/contracts/backup-names";
import { checkPassphrase, PassphraseMismatchError } from "./passphrase-check";
import { stopGpgAgents, useGnupgHome } from "../testing/test-server-dir";

afterAll(() => stopGpgAgents());

const made: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(tmpdir(), "lifeboat-pp-"));
  made.push(d);
  return d;
};
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function gpgEncrypt(dir: string, file: string, passphrase: string, extra: string[] = []): Buffer {
  writeFileSync(path.join(dir, "pass"), passphrase + "\n");
  execFileSync("gpg", ["--batch", "--yes", "--passphrase-file", path.join(dir, "pass"), "--cipher-algo", "AES256", ...extra, "-c", "-o", file + ".gpg", file], {
    env: { ...process.env, GNUPGHOME: useGnupgHome(dir) },
    stdio: "ignore",
  });
  return readFileSync(file + ".gpg");
}

describe("checkPassphrase against the seed job's archives", () => {
  // openpgp.js's streaming decrypt stalled on about 1 wrong-passphrase attempt in 40 against gpg -c
  // archives (they carry no encrypted session key); the check must answer every time, and fast.
  it("rejects a wrong passphrase promptly on 40 fresh gpg -c archives, and accepts the right one", async () => {
    const dir = tmp();
    const store = new FsBackupStore(path.join(dir, "store"));
    const file = path.join(dir, "state.db");
    writeFileSync(file, Buffer.concat([Buffer.from("SQLite format 3\0"), Buffer.alloc(200_000, 7)]));
    const key = "state_2024-12-18_00-00-00.db.gpg";
    for (let i = 0; i < 40; i++) {
      await store.put(key, Readable.from([gpgEncrypt(dir, file, "seed passphrase")]));
      const objects = [];
      for await (const o of listAll(store)) objects.push(o);
      const sets = groupObjects(objects).sets;
      const t0 = Date.now();
      const err = await checkPassphrase(store, sets, `wrong ${i}`).catch((e) => e);
      expect(err).toBeInstanceOf(PassphraseMismatchError);
      expect(Date.now() - t0).toBeLessThan(5000);
      if (i % 10 === 0) await expect(checkPassphrase(store, sets, "seed passphrase")).resolves.toMatch(/opens the newest existing backup \(state_/);
    }
    // 40 gpg -c runs: ~15 s on 2 idle cores, twice that on a loaded machine.
  }, 120_000);
});

describe("checkPassphrase when the newest archives cannot be read at all", () => {
  // A seed job that failed halfway leaves an empty or cut object. That says nothing about the
  // passphrase: the check must go on to the next newest archive, not stop every backup with advice to
  // change the passphrase.
  async function storeWith(dir: string, objects: [string, Buffer][]) {
    const store = new FsBackupStore(path.join(dir, "store"));
    for (const [key, body] of objects) await store.put(key, Readable.from([body]));
    const listed = [];
    for await (const o of listAll(store)) listed.push(o);
    return { store, sets: groupObjects(listed).sets };
  }

  it("an empty and a cut archive of a newer seed set: the older intact set decides, both ways", async () => {
    const dir = tmp();
    const file = path.join(dir, "state.db");
    writeFileSync(file, Buffer.concat([Buffer.from("SQLite format 3\0"), Buffer.alloc(100_000, 3)]));
    const good = gpgEncrypt(dir, file, "seed passphrase");
    const older = seedObjectNames(new Date("2024-12-17T00:00:00Z"));
    const newer = seedObjectNames(new Date("2024-12-18T00:00:00Z"));
    const { store, sets } = await storeWith(dir, [
      [older.logical, good],
      [newer.logical, Buffer.alloc(0)],
      [newer.fileArchive, good.subarray(0, 12)], // cut inside its passphrase packet, before the quick check
    ]);
    await expect(checkPassphrase(store, sets, "seed passphrase")).resolves.toBe(
      `the passphrase opens ${older.logical}; the newer ${newer.logical} (empty), ${newer.fileArchive} (damaged) could not be read at all, so they say nothing about it`,
    );
    const err = await checkPassphrase(store, sets, "another passphrase").catch((e) => e);
    expect(err).toBeInstanceOf(PassphraseMismatchError);
    expect(err.message).toContain(`(${older.logical})`);
  });

  it("a newer archive the passphrase does not open is still a mismatch, whatever older ones hold", async () => {
    const dir = tmp();
    const file = path.join(dir, "state.db");
    writeFileSync(file, Buffer.concat([Buffer.from("SQLite format 3\0"), Buffer.alloc(100_000, 4)]));
    const older = seedObjectNames(new Date("2024-12-17T00:00:00Z"));
    const newer = seedObjectNames(new Date("2024-12-18T00:00:00Z"));
    const { store, sets } = await storeWith(dir, [
      [older.logical, gpgEncrypt(dir, file, "old passphrase")],
      [newer.logical, gpgEncrypt(dir, file, "new passphrase")],
    ]);
    const err = await checkPassphrase(store, sets, "old passphrase").catch((e) => e);
    expect(err).toBeInstanceOf(PassphraseMismatchError);
    expect(err.message).toContain(`(${newer.logical})`);
  });

  it("a newer set of another cluster in a folder below the store (another passphrase) is not this store's: the store's own set decides", async () => {
    const dir = tmp();
    const file = path.join(dir, "state.db");
    writeFileSync(file, Buffer.concat([Buffer.from("SQLite format 3\0"), Buffer.alloc(100_000, 5)]));
    const own = seedObjectNames(new Date("2024-12-17T00:00:00Z"));
    const theirs = seedObjectNames(new Date("2024-12-18T00:00:00Z"));
    const { store, sets } = await storeWith(dir, [
      [own.logical, gpgEncrypt(dir, file, "our passphrase")],
      [`cluster-b/${theirs.logical}`, gpgEncrypt(dir, file, "their passphrase")],
    ]);
    expect(sets.map((s) => s.objects[0].key).sort()).toEqual([own.logical, `cluster-b/${theirs.logical}`].sort());
    await expect(checkPassphrase(store, sets, "our passphrase")).resolves.toBe(`the passphrase opens the newest existing backup (${own.logical})`);
  });

  it("nothing readable at all: the check cannot tell, says so, and does not stop the backup", async () => {
    const dir = tmp();
    const only = seedObjectNames(new Date("2024-12-18T00:00:00Z"));
    const { store, sets } = await storeWith(dir, [
      [only.logical, Buffer.alloc(0)],
      [only.fileArchive, Buffer.from("not OpenPGP at all")],
    ]);
    await expect(checkPassphrase(store, sets, "any passphrase")).resolves.toBe(
      `the passphrase could not be checked: the newest archives, ${only.logical} (empty), ${only.fileArchive} (damaged), cannot be read at all (restore drills of them will say what is wrong)`,
    );
  });
});
