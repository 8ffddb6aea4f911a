import { describe, it, expect, afterAll } from "vitest";
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { Readable } from "node:stream";
import { FsBackupStore } from "../../lib/storage/fs-backup-store";
import { groupObjects } from "../../lib/backups/grouping";
import { listAll } from "../../lib/storage/backup-store";
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
