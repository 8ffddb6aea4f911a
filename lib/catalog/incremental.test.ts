import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import pino from "pino";
import { S3BackupStore } from "../storage/s3-backup-store";
import type { BackupStore, ListOptions } from "../storage/backup-store";
import { startEmbeddedS3, type EmbeddedS3 } from "../storage/embedded-s3";
import { openDatabase } from "../db/database";
import { lifeboatObjectNames, seedObjectNames, twoCopyLifeboatObjectNames } from "../contracts/backup-names";
import { CatalogService } from "./catalog-service";
import { coveredBy, incrementalRanges } from "./incremental";

const log = pino({ level: "silent" });
const tmp = (p: string) => mkdtempSync(path.join(tmpdir(), p));
const DAY = 86_400_000;
const night = (i: number) => new Date(Date.UTC(2025, 0, 1, 0, 0, 5) + i * DAY);

describe("incrementalRanges", () => {
  it("lists each name series after its newest timestamp, every root series, and nothing of stray names", () => {
    const keys = [
      "k3s_db_2025-01-01_00-00-05.tar.zst.gpg",
      "k3s_db_2025-01-03_00-00-05.tar.zst.gpg",
      "state_2025-01-02_00-00-05.db.gpg",
      "old/state_2025-01-05_00-00-05.db.gpg",
      "lifeboat_2025-01-04_00-00-05_state.db.zst.gpg",
      "lifeboat_2025-01-04_00-00-05_secrets.tar.zst.gpg",
      "notes.txt",
    ];
    expect(incrementalRanges(keys)).toEqual([
      { prefix: "k3s_db_", startAfter: "k3s_db_2025-01-03_00-00-05" },
      { prefix: "lifeboat_", startAfter: "lifeboat_2025-01-04_00-00-05" },
      { prefix: "old/state_", startAfter: "old/state_2025-01-05_00-00-05" },
      { prefix: "state_", startAfter: "state_2025-01-02_00-00-05" },
    ]);
    expect(incrementalRanges(["notes.txt"])).toEqual([{ prefix: "k3s_db_" }, { prefix: "lifeboat_" }, { prefix: "state_" }]);
    const covers = coveredBy(incrementalRanges(keys));
    // The newest set's own objects are listed again (its manifest sorts before its database archive)...
    expect(covers("lifeboat_2025-01-04_00-00-05_manifest.json")).toBe(true);
    expect(covers("lifeboat_2025-01-05_00-00-05_state.db.zst.gpg")).toBe(true);
    // ...older ones and stray names are not: only a full listing speaks for them.
    expect(covers("k3s_db_2025-01-01_00-00-05.tar.zst.gpg")).toBe(false);
    expect(covers("notes.txt")).toBe(false);
  });
});

let s3: EmbeddedS3;
beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: tmp("lifeboat-inc-s3-"), buckets: ["inc-0", "inc-1"] });
});
afterAll(async () => {
  await s3?.stop();
});

/** The real store, counting list requests and the objects they return. */
function counted(store: BackupStore): BackupStore & { requests: number; listed: number; calls: ListOptions[] } {
  const c = {
    description: store.description,
    requests: 0,
    listed: 0,
    calls: [] as ListOptions[],
    list: async (o?: ListOptions) => {
      const page = await store.list(o);
      c.requests++;
      c.listed += page.objects.length;
      c.calls.push(o ?? {});
      return page;
    },
    head: (k: string) => store.head(k),
    get: (k: string) => store.get(k),
    put: (k: string, b: Readable, o?: { contentType?: string }) => store.put(k, b, o),
    delete: (k: string) => store.delete(k),
  };
  return c;
}

const put = (store: BackupStore, key: string, n = 100) => store.put(key, Readable.from([Buffer.alloc(n, 1)]));

describe("CatalogService: incremental refresh, full reconcile", () => {
  it("lists only what is new after a full listing; deletions and stray objects wait for the next full listing", async () => {
    const s3store = new S3BackupStore({ endpoint: s3.endpoint, bucket: "inc-0", accessKeyId: "S3RVER", secretAccessKey: "S3RVER", region: "us-east-1" });
    // A mixed bucket: seed sets, two-copy Lifeboat sets, then one-copy Lifeboat sets.
    for (let i = 0; i < 6; i++) {
      for (const k of Object.values(seedObjectNames(night(i)))) await put(s3store, k);
      for (const k of Object.values(i < 3 ? twoCopyLifeboatObjectNames(night(i)) : lifeboatObjectNames(night(i)))) await put(s3store, k);
    }
    const store = counted(s3store);
    let clock = Date.UTC(2025, 0, 7);
    const svc = new CatalogService({
      db: openDatabase(tmp("lifeboat-inc-db-")),
      store,
      location: { endpoint: s3.endpoint, bucket: "inc-0", prefix: null },
      refreshIntervalMs: 300_000,
      reconcileIntervalMs: 3_600_000,
      log,
      now: () => new Date(clock),
    });
    const first = await svc.refresh();
    expect(first).toMatchObject({ ok: true, full: true, objects: 6 * 2 + 3 * 4 + 3 * 3, added: 33 });
    expect(svc.view().sets.filter((s) => s.missing.length)).toEqual([]);

    // A new one-copy set still uploading (no manifest yet), a stray object, a deletion.
    const n6 = lifeboatObjectNames(night(6));
    await put(s3store, n6.logical);
    await put(s3store, n6.secrets);
    await put(s3store, "notes.txt");
    await s3store.delete(seedObjectNames(night(0)).logical);
    store.listed = 0;
    clock += 300_000;
    const inc = await svc.refresh();
    expect(inc).toMatchObject({ ok: true, full: false, added: 2, changed: 0, removed: 0, requests: 3 });
    // Only each series' newest known objects (seed: 1 + 1, Lifeboat: 3) and the new ones came back, never the bucket.
    expect(store.listed).toBe(1 + 1 + 3 + 2);
    expect(svc.view().sets[0]).toMatchObject({ id: "lifeboat-2025-01-07_00-00-05", missing: ["manifest"] });
    expect(svc.view().other).toEqual([]); // the stray object waits for the full listing

    // Its manifest (which sorts before its database archive) arrives: the set is whole.
    await put(s3store, n6.manifest);
    clock += 300_000;
    expect(await svc.refresh()).toMatchObject({ full: false, added: 1, removed: 0 });
    expect(svc.view().sets[0].missing).toEqual([]);

    // The Refresh button (or the hourly reconcile) lists everything: the deletion and the stray object show.
    expect(await svc.refresh({ full: true })).toMatchObject({ ok: true, full: true, added: 1, removed: 1 });
    expect(svc.view().other.map((o) => o.key)).toEqual(["notes.txt"]);
    expect(svc.view().sets.find((s) => s.id === "seed-2025-01-01_00-00-05")!.missing).toEqual(["logical"]);
    clock += 3_600_000;
    expect((await svc.refresh()).full).toBe(true); // an hour after the last full listing
    expect((await svc.refresh()).full).toBe(false);
  });

  it("a deletion inside the listed range goes at once; a Refresh asked for during an incremental one runs after it", async () => {
    const s3store = new S3BackupStore({ endpoint: s3.endpoint, bucket: "inc-1", accessKeyId: "S3RVER", secretAccessKey: "S3RVER", region: "us-east-1" });
    for (let i = 0; i < 3; i++) for (const k of Object.values(lifeboatObjectNames(night(i)))) await put(s3store, k);
    const store = counted(s3store);
    const svc = new CatalogService({
      db: openDatabase(tmp("lifeboat-inc-db-")),
      store,
      location: { endpoint: s3.endpoint, bucket: "inc-1", prefix: null },
      refreshIntervalMs: 300_000,
      log,
    });
    await svc.refresh();
    // The newest set's manifest is deleted (retention of an incomplete set, or by hand): the incremental listing covers it.
    await s3store.delete(lifeboatObjectNames(night(2)).manifest);
    const inc = svc.refresh();
    const full = svc.refresh({ full: true });
    expect(await inc).toMatchObject({ full: false, removed: 1 });
    expect(await full).toMatchObject({ full: true, removed: 0, added: 0 });
    expect(svc.view().sets[0]).toMatchObject({ id: "lifeboat-2025-01-03_00-00-05", missing: ["manifest"] });
  });
});
