import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it, expect } from "vitest";
import { FsBackupStore } from "./fs-backup-store";
import { runBackupStoreContract } from "./backup-store.contract";
import { StorageError, InvalidKeyError } from "./errors";

runBackupStoreContract("FsBackupStore", () => new FsBackupStore(mkdtempSync(path.join(tmpdir(), "lifeboat-fs-"))));

describe("FsBackupStore", () => {
  it("refuses keys that escape its directory", async () => {
    const store = new FsBackupStore(mkdtempSync(path.join(tmpdir(), "lifeboat-fs-")));
    await expect(store.head("../etc/passwd")).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(store.head("/etc/passwd")).rejects.toBeInstanceOf(StorageError);
  });
  it("reports a missing directory as a missing bucket", async () => {
    const store = new FsBackupStore(path.join(tmpdir(), "lifeboat-does-not-exist-" + Date.now()));
    await expect(store.list()).rejects.toMatchObject({ failure: "no_bucket" });
  });
});
