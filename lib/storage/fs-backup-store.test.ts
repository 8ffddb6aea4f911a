import { mkdtempSync, promises as fsp, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it, expect, vi } from "vitest";
import { FsBackupStore } from "./fs-backup-store";
import { listAll } from "./backup-store";
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
  it("a listing while objects are deleted (retention, the log's compaction) lists what is left, not 'the directory does not exist'", async () => {
    const root = mkdtempSync(path.join(tmpdir(), "lifeboat-fs-"));
    const store = new FsBackupStore(root);
    writeFileSync(path.join(root, "lifeboat_2024-12-18_00-00-00_manifest.json"), "{}");
    for (let round = 0; round < 5; round++) {
      const names = Array.from({ length: 300 }, (_, i) => `lifeboat-log_${round}_${i}.sql.zst.gpg`);
      for (const n of names) writeFileSync(path.join(root, n), "x");
      const deleting = (async () => {
        for (const n of names) await fsp.rm(path.join(root, n), { force: true });
      })();
      const page = await store.list();
      await deleting;
      expect(page.objects.map((o) => o.key)).toContain("lifeboat_2024-12-18_00-00-00_manifest.json");
    }
  });
  it("a listing page by page stats each file once, not every file for every page", async () => {
    // A day of the log is 8,640 segments: every page stat'ing the whole directory made a listing of n
    // objects n²/1000 stats (the log's checkpoint runs list it every few minutes).
    const root = mkdtempSync(path.join(tmpdir(), "lifeboat-fs-"));
    const names = Array.from({ length: 2000 }, (_, i) => `lifeboat-log_${String(i).padStart(5, "0")}.sql.zst.gpg`);
    for (const [i, n] of names.entries()) writeFileSync(path.join(root, n), "x".repeat(i % 7));
    const stat = vi.spyOn(fsp, "stat");
    try {
      const seen: { key: string; size: number }[] = [];
      for await (const o of listAll(new FsBackupStore(root), { pageSize: 100 })) seen.push({ key: o.key, size: o.size });
      expect(seen).toEqual(names.map((key, i) => ({ key, size: i % 7 })));
      expect(stat.mock.calls.length).toBeLessThanOrEqual(names.length);
    } finally {
      stat.mockRestore();
    }
  });
});
