import { describe, it, expect, afterAll } from "vitest";
import { mkdtempSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { Readable } from "node:stream";
import { FsBackupStore } from "../../lib/storage/fs-backup-store";
import { groupObjects } from "../../lib/backups/grouping";
import { listAll } from "../../lib/storage/backup-store";
import { encryptStream } from "../../lib/archive";
import { quickCheckPassphrase } from "./openpgp-quick-check";
import { checkPassphrase, PassphraseMismatchError } from "./passphrase-check";
import { stopGpgAgents, useGnupgHome } from "./test-server-dir";

afterAll(() => stopGpgAgents());

const tmp = () => mkdtempSync(path.join(tmpdir(), "lifeboat-pp-"));

function gpgEncrypt(dir: string, file: string, passphrase: string, extra: string[] = []): Buffer {
  writeFileSync(path.join(dir, "pass"), passphrase + "\n");
  execFileSync("gpg", ["--batch", "--yes", "--passphrase-file", path.join(dir, "pass"), "--cipher-algo", "AES256", ...extra, "-c", "-o", file + ".gpg", file], {
    env: { ...process.env, GNUPGHOME: useGnupgHome(dir) },
    stdio: "ignore",
  });
  return readFileSync(file + ".gpg");
}

describe("OpenPGP quick check (what `gpg` calls a bad session key)", () => {
  it("tells the right passphrase from wrong ones for gpg -c archives (GnuPG's defaults and other S2K settings)", () => {
    const dir = tmp();
    const file = path.join(dir, "plain");
    writeFileSync(file, "SQLite format 3\0".padEnd(5000, "x"));
    for (const extra of [[], ["--s2k-digest-algo", "SHA256"], ["--s2k-mode", "1"], ["--s2k-mode", "0"], ["--compress-algo", "none"]]) {
      const enc = gpgEncrypt(dir, file, "the right one", extra);
      expect(quickCheckPassphrase(enc.subarray(0, 4096), "the right one")).toBe("ok");
      for (let i = 0; i < 5; i++) expect(quickCheckPassphrase(enc.subarray(0, 4096), `wrong ${i}`)).toBe("wrong");
    }
  });

  it("works on what Lifeboat writes (openpgp.js, with an encrypted session key)", async () => {
    const parts: Buffer[] = [];
    for await (const c of await encryptStream(Readable.from([Buffer.from("token\n")]), "pw")) parts.push(c as Buffer);
    const enc = Buffer.concat(parts);
    expect(quickCheckPassphrase(enc, "pw")).toBe("ok");
    expect(quickCheckPassphrase(enc, "pW")).toBe("wrong");
  });

  it("says unknown (never ok) for data it does not understand", () => {
    expect(quickCheckPassphrase(Buffer.from("SQLite format 3\0 not encrypted"), "pw")).toBe("unknown");
    expect(quickCheckPassphrase(Buffer.alloc(0), "pw")).toBe("unknown");
  });
});

describe("checkPassphrase against the seed job's archives", () => {
  it("rejects a wrong passphrase promptly on 40 fresh gpg -c archives (openpgp.js alone stalled on about 1 in 40)", async () => {
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
  });
});
