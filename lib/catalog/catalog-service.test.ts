import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import pino from "pino";
import Database from "better-sqlite3";
import { S3BackupStore } from "../storage/s3-backup-store";
import type { BackupStore } from "../storage/backup-store";
import { StorageError } from "../storage/errors";
import { startEmbeddedS3, type EmbeddedS3 } from "../storage/embedded-s3";
import { openDatabase } from "../db/database";
import { seedObjectNames, lifeboatObjectNames } from "../contracts/backup-names";
import { CatalogResponse, CatalogSetDetail, type CatalogSet } from "../contracts/catalog";
import type { BackupManifest } from "../contracts/manifest";
import { CatalogService } from "./catalog-service";
import { freePort } from "../net/ports";
import { catalogSources } from "../alerts/sources";
import { evaluateRules } from "../alerts/rules/evaluate";
import { DEFAULT_RULE_CONFIG } from "../alerts/rules/types";
import { agentInput } from "../alerts/testing/fixtures";
import { proposeBackup } from "../restore/proposal";

const log = pino({ level: "silent" });
const creds = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER", region: "us-east-1" };
const tmp = (p: string) => mkdtempSync(path.join(tmpdir(), p));
const DAY = 86_400_000;
const night = (i: number) => new Date(Date.UTC(2025, 0, 1, 0, 0, 5) + i * DAY);

let s3: EmbeddedS3;
let bucketNo = 0;
beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: tmp("lifeboat-cat-s3-"), buckets: Array.from({ length: 12 }, (_, i) => `cat-${i}`) });
});
afterAll(async () => {
  await s3?.stop();
});

function put(store: S3BackupStore, key: string, bytes: number | string): Promise<void> {
  const body = typeof bytes === "string" ? Buffer.from(bytes) : Buffer.alloc(bytes, 7);
  return store.put(key, Readable.from([body]));
}

function service(store: BackupStore | null, dataDir = tmp("lifeboat-cat-db-"), now?: () => Date) {
  const db = openDatabase(dataDir);
  return {
    db,
    dataDir,
    svc: new CatalogService({ db, store, location: { endpoint: s3.endpoint, bucket: "x", prefix: "k3s" }, refreshIntervalMs: 60_000, log, now }),
  };
}

/** A store on a fresh bucket with `nights` seed sets of ~1000-byte archives. */
async function filledStore(nights: number, sizes?: (i: number) => number): Promise<S3BackupStore> {
  const store = new S3BackupStore({ ...creds, endpoint: s3.endpoint, bucket: `cat-${bucketNo++}`, prefix: "k3s" });
  for (let i = 0; i < nights; i++) {
    const n = seedObjectNames(night(i));
    await Promise.all([put(store, n.fileArchive, sizes?.(i) ?? 1000), put(store, n.logical, (sizes?.(i) ?? 1000) + 100)]);
  }
  return store;
}

describe("CatalogService against s3rver", () => {
  it("writes only added, changed and removed objects to the cache (a full listing sees them all)", async () => {
    const store = await filledStore(3);
    const { svc } = service(store);
    const first = await svc.refresh();
    expect(first).toMatchObject({ ok: true, objects: 6, added: 6, changed: 0, removed: 0 });
    expect(svc.view().sets.map((s) => s.id)).toEqual(["seed-2025-01-03_00-00-05", "seed-2025-01-02_00-00-05", "seed-2025-01-01_00-00-05"]);

    const unchanged = svc.view();
    expect(await svc.refresh()).toMatchObject({ ok: true, added: 0, changed: 0, removed: 0 });
    expect(svc.view()).toBe(unchanged); // nothing changed: nothing recomputed

    const n3 = seedObjectNames(night(3));
    await put(store, n3.fileArchive, 1000);
    await put(store, "notes.txt", "not a backup");
    await put(store, seedObjectNames(night(0)).logical, 5000); // rewritten with another size
    await store.delete(seedObjectNames(night(1)).fileArchive);
    expect(await svc.refresh({ full: true })).toMatchObject({ ok: true, full: true, objects: 7, added: 2, changed: 1, removed: 1 });
    const view = svc.view();
    expect(view.sets[0]).toMatchObject({ id: "seed-2025-01-04_00-00-05", missing: ["logical"] });
    expect(view.sets.find((s) => s.id === "seed-2025-01-02_00-00-05")!.missing).toEqual(["file-archive"]);
    expect(view.sets.find((s) => s.id === "seed-2025-01-01_00-00-05")!.objects.find((o) => o.kind === "logical")!.size).toBe(5000);
    expect(view.other.map((o) => o.key)).toEqual(["notes.txt"]);
    expect(view.counts.incomplete).toBe(2);
  });

  it("serves the cached listing after a restart without listing the store", async () => {
    const store = await filledStore(2);
    const a = service(store);
    await a.svc.refresh();
    a.db.close();
    // Same data dir, same source; the store's credentials are now wrong, so any listing would fail.
    const broken = new S3BackupStore({
      ...creds,
      accessKeyId: "NOPE",
      secretAccessKey: "nope",
      endpoint: s3.endpoint,
      bucket: (store as unknown as { cfg: { bucket: string } }).cfg.bucket,
      prefix: "k3s",
    });
    expect(broken.description).toBe(store.description);
    const b = service(broken, a.dataDir);
    expect(b.svc.view().sets).toHaveLength(2);
    expect(b.svc.status().refreshedAt).not.toBeNull();
  });

  it("keeps the last good listing and records the cause when the store goes down, and recovers", async () => {
    const dir = tmp("lifeboat-cat-down-");
    let own = await startEmbeddedS3({ directory: dir, buckets: ["down"] });
    const port = own.port;
    const store = new S3BackupStore({ ...creds, endpoint: own.endpoint, bucket: "down", maxAttempts: 1 });
    for (let i = 0; i < 3; i++) await put(store, seedObjectNames(night(i)).fileArchive, 900);
    const { svc } = service(store);
    await svc.refresh();
    const good = svc.status().refreshedAt;
    await own.stop();

    const failed = await svc.refresh();
    expect(failed.ok).toBe(false);
    const st = svc.status();
    expect(st.error).toMatchObject({ failure: "unreachable" });
    expect(st.error!.message).toContain(`127.0.0.1:${port}`);
    expect(st.error!.message).toContain("s3://down");
    expect(st.refreshedAt).toBe(good);
    expect(svc.view().sets).toHaveLength(3);
    expect(CatalogResponse.parse(svc.response()).error?.failure).toBe("unreachable");

    own = await startEmbeddedS3({ directory: dir, buckets: ["down"], port });
    try {
      expect((await svc.refresh()).ok).toBe(true);
      expect(svc.status().error).toBeNull();
    } finally {
      await own.stop();
    }
  });

  it("names wrong credentials and a missing bucket without echoing a secret", async () => {
    const auth = service(new S3BackupStore({ ...creds, accessKeyId: "WRONGKEY", secretAccessKey: "wrong-secret-123", endpoint: s3.endpoint, bucket: "cat-0" }));
    await auth.svc.refresh();
    expect(auth.svc.status().error?.failure).toBe("auth");
    expect(JSON.stringify(auth.svc.status())).not.toContain("wrong-secret-123");
    const missing = service(new S3BackupStore({ ...creds, endpoint: s3.endpoint, bucket: "no-such-bucket" }));
    await missing.svc.refresh();
    expect(missing.svc.status().error).toMatchObject({ failure: "no_bucket" });
    expect(missing.svc.status().error!.message).toContain("no-such-bucket");
  });

  it("never rejects when lifeboat.db is write-locked past busy_timeout: the failure is shown from memory, listeners run, the next refresh recovers", async () => {
    const store = await filledStore(1);
    const { svc, db, dataDir } = service(store);
    expect((await svc.refresh()).ok).toBe(true);
    await put(store, seedObjectNames(night(1)).fileArchive, 1000);
    db.pragma("busy_timeout = 50");
    const outcomes: boolean[] = [];
    svc.onRefreshed((o) => void outcomes.push(o.ok));
    // Another writer (`npm run users`, a copy of lifeboat.db) holds the write lock: neither the listing nor the failure can be written.
    const other = new Database(path.join(dataDir, "lifeboat.db"));
    other.prepare("BEGIN IMMEDIATE").run();
    try {
      const failed = await svc.refresh({ full: true });
      expect(failed).toMatchObject({ ok: false, objects: 2 });
      expect(outcomes).toEqual([false]);
      const st = svc.status();
      expect(st.error).toMatchObject({ failure: "cache", message: expect.stringMatching(/locked/) });
      expect(st.attemptedAt).toBe(st.error!.at);
      expect(svc.view().sets).toHaveLength(1); // the last good listing
    } finally {
      other.prepare("ROLLBACK").run();
      other.close();
    }
    expect((await svc.refresh({ full: true })).ok).toBe(true);
    expect(svc.status().error).toBeNull();
    expect(svc.view().sets).toHaveLength(2);
  });

  it("says so when no store is configured", async () => {
    const { svc } = service(null);
    expect((await svc.refresh()).ok).toBe(false);
    expect(svc.status()).toMatchObject({ configured: false, error: { failure: "not_configured" } });
    expect(svc.view().sets).toEqual([]);
  });

  it("shares one listing between concurrent refreshes and waits for it on first load", async () => {
    const store = await filledStore(2);
    const { svc } = service(store);
    const a = svc.refresh();
    const b = svc.refresh();
    expect(a).toBe(b);
    await a;
    const fresh = service(store);
    await fresh.svc.ensureLoaded();
    expect(fresh.svc.view().sets).toHaveLength(2);
  });

  it("pages and filters newest first, with counts per filter", async () => {
    // Steady, then a growth episode: 1.6× (warning) then 4.5× (critical).
    const sizes = [1000, 1002, 998, 1001, 1000, 999, 1003, 1000, 1600, 4500];
    const store = await filledStore(sizes.length, (i) => sizes[i]);
    const { svc } = service(store, undefined, () => new Date(night(9).getTime() + 3_600_000));
    await svc.refresh();
    const res = CatalogResponse.parse(svc.response({ flag: "critical" }));
    expect(res.sets.map((s) => s.id)).toEqual(["seed-2025-01-10_00-00-05"]);
    expect(res.total).toBe(1);
    expect(res.counts).toMatchObject({ all: 10, flagged: 2, critical: 1, warning: 1, growth: 2, gap: 0, stale: 0 });
    const page = svc.page({ offset: 2, limit: 3 });
    expect(page.total).toBe(10);
    expect(page.sets.map((s: CatalogSet) => s.id)).toEqual(["seed-2025-01-08_00-00-05", "seed-2025-01-07_00-00-05", "seed-2025-01-06_00-00-05"]);
    expect(
      svc
        .view()
        .chart.flags.map((f) => f.level)
        .sort(),
    ).toEqual(["critical", "critical", "warning", "warning"]);
  });

  it("reads, validates and caches a set's manifest", async () => {
    const store = new S3BackupStore({ ...creds, endpoint: s3.endpoint, bucket: `cat-${bucketNo++}` });
    const t = night(0);
    const names = lifeboatObjectNames(t);
    const manifest: BackupManifest = {
      version: 1,
      setId: `lifeboat-2025-01-01_00-00-05`,
      createdAt: t.toISOString(),
      host: "pi-server",
      k3sVersion: "v1.31.4+k3s1",
      agentVersion: "0.1.0",
      snapshotMethod: "vacuum-into",
      integrity: "ok",
      database: {
        fileSize: 2_400_000,
        pageSize: 4096,
        pageCount: 586,
        freelistCount: 12,
        rowCount: 1500,
        currentRevision: 90_000,
        compactRevision: 88_900,
        compactionLag: 1100,
        uncompactedRows: 300,
        liveKeys: 180,
        topPrefixesByRows: [{ prefix: "/registry/leases", rows: 900, bytes: 700_000 }],
        topPrefixesByBytes: [{ prefix: "/registry/leases", rows: 900, bytes: 700_000 }],
      },
      objects: [{ kind: "lifeboat-logical", key: names.logical, size: 10, sha256: "a".repeat(64) }],
      timings: { total: 1234 },
      archivedPaths: ["db/state.db", "token"],
    };
    await put(store, names.logical, 10);
    await put(store, names.manifest, JSON.stringify(manifest));
    const bad = lifeboatObjectNames(night(1));
    await put(store, bad.manifest, JSON.stringify({ version: 2 }));
    await put(store, seedObjectNames(night(2)).logical, 10);
    const { svc } = service(store);
    await svc.refresh();

    const ok = CatalogSetDetail.parse(await svc.detail("lifeboat-2025-01-01_00-00-05"));
    expect(ok.manifest.state).toBe("ok");
    expect(ok.manifest.state === "ok" && ok.manifest.manifest.database.compactionLag).toBe(1100);
    expect(ok.set.missing).toEqual(["lifeboat-files", "lifeboat-token"]);
    expect(ok.newerId).toBe("lifeboat-2025-01-02_00-00-05");
    expect(ok.olderId).toBeNull();

    const invalid = await svc.detail("lifeboat-2025-01-02_00-00-05");
    expect(invalid!.manifest).toMatchObject({ state: "invalid" });
    expect((invalid!.manifest as { message: string }).message).toMatch(/not a valid Lifeboat manifest \(version/);
    expect((await svc.detail("seed-2025-01-03_00-00-05"))!.manifest).toEqual({ state: "absent" });
    expect(await svc.detail("seed-1999-01-01_00-00-00")).toBeNull();

    // Cached: readable even when the object is gone from the store.
    await store.delete(names.manifest);
    expect((await svc.detail("lifeboat-2025-01-01_00-00-05"))!.manifest.state).toBe("ok");
  });
});

describe("CatalogService with sets in folders below its store", () => {
  it("shows another cluster's sets and a copy kept by hand apart: never in the history, the size series, the flags or the alerts", async () => {
    // This cluster's nightly sets at the store's top stopped after night 7; another cluster's agent,
    // under cluster-b/, kept writing sets 50× larger; a copy of an old set was kept by hand in pinned/.
    const store = new S3BackupStore({ ...creds, endpoint: s3.endpoint, bucket: `cat-${bucketNo++}` });
    for (let i = 0; i < 8; i++) await Promise.all(Object.values(lifeboatObjectNames(night(i))).map((k) => put(store, k, 1000)));
    for (let i = 3; i < 13; i++)
      await Promise.all(Object.values(lifeboatObjectNames(new Date(night(i).getTime() + 3_600_000))).map((k) => put(store, `cluster-b/${k}`, 50_000)));
    const pinned = new Date(night(1).getTime() + 60_000);
    await Promise.all(Object.values(lifeboatObjectNames(pinned)).map((k) => put(store, `pinned/${k}`, 1000)));
    const now = new Date(night(12).getTime() + 2 * 3_600_000);
    const { svc, db } = service(store, undefined, () => now);
    await svc.refresh();
    const view = svc.view();

    const own = Array.from(
      { length: 8 },
      (_, i) =>
        `lifeboat-${night(7 - i)
          .toISOString()
          .slice(0, 19)
          .replace("T", "_")
          .replace(/:/g, "-")}`,
    );
    expect(view.sets.map((s) => s.id)).toEqual(own);
    expect(view.chart.setIds).toEqual([...own].reverse());
    expect(view.sets.flatMap((s) => s.anomalies.map((a) => a.type))).toEqual(["stale"]);
    expect(view.counts).toMatchObject({ all: 8, growth: 0, shrink: 0, stale: 1 });
    // Nothing lost: the folders' sets are listed apart, with their folder.
    expect(view.nested.map((s) => s.folder)).toEqual([...Array(10).fill("cluster-b/"), "pinned/"]);
    expect(view.nested.every((s) => s.objects.length === 3)).toBe(true);
    expect(CatalogResponse.parse(svc.response()).nested).toHaveLength(11);
    // Not a set of this store: no page, no drill, no restore (the wizard proposes this cluster's newest).
    expect(svc.findSet(view.nested[0].id)).toBeNull();
    expect(proposeBackup(svc.page({ limit: null }).sets).proposal?.setId).toBe(own[0]);
    const { source: _source, ...catalog } = catalogSources(svc, db, () => agentInput({ configured: false, health: null })).catalog();
    const alerts = evaluateRules({ now, catalog: { ...catalog, manifests: [] }, agent: agentInput({ configured: false, health: null }) }, DEFAULT_RULE_CONFIG)
      .flatMap((o) => o.firing)
      .map((a) => a.key);
    expect(alerts).toEqual(["LifeboatBackupStale"]);
  });
});

describe("CatalogService on a slow first listing", () => {
  it("renders after a short wait with the listing's progress and the pages listed so far, then fills in", async () => {
    const real = await filledStore(3);
    // The real store, two objects per page, and the second page held back until released.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let pages = 0;
    const slow: BackupStore = {
      description: real.description,
      list: async (o) => {
        if (pages++ === 1) await gate;
        return real.list({ ...o, pageSize: 2 });
      },
      head: (k) => real.head(k),
      get: (k) => real.get(k),
      put: (k, b, o) => real.put(k, b, o),
      delete: (k) => real.delete(k),
    };
    const db = openDatabase(tmp("lifeboat-cat-db-"));
    const svc = new CatalogService({
      db,
      store: slow,
      location: { endpoint: null, bucket: "x", prefix: null },
      refreshIntervalMs: 60_000,
      log,
      firstLoadWaitMs: 100,
    });
    await svc.ensureLoaded();
    expect(svc.status()).toMatchObject({ refreshing: true, refreshedAt: null, listing: { objects: 2 } });
    // The first page is shown already (two file archives, their logical backups not listed yet).
    expect(svc.view().sets.map((x) => [x.id, x.missing])).toEqual([
      ["seed-2025-01-02_00-00-05", ["logical"]],
      ["seed-2025-01-01_00-00-05", ["logical"]],
    ]);
    release();
    await svc.refresh(); // joins the running listing
    expect(svc.status()).toMatchObject({ refreshing: false, listing: null, objectCount: 6 });
    expect(svc.view().sets).toHaveLength(3);
  });
});

describe("CatalogService when a cold start's listing fails part way", () => {
  /** A fresh bucket with `nights` one-copy Lifeboat sets: their keys sort by time, so a listing's first pages are the oldest nights. */
  async function lifeboatStore(nights: number): Promise<S3BackupStore> {
    const store = new S3BackupStore({ ...creds, endpoint: s3.endpoint, bucket: `cat-${bucketNo++}` });
    for (let i = 0; i < nights; i++) await Promise.all(Object.values(lifeboatObjectNames(night(i))).map((k) => put(store, k, 1000)));
    return store;
  }
  /** The alerts the rules raise over what `svc` shows now (the process's wiring, no agent). */
  const alertKeys = (svc: CatalogService, db: Database.Database, now: Date) => {
    const { source: _source, ...catalog } = catalogSources(svc, db, () => agentInput({ configured: false, health: null })).catalog();
    return evaluateRules({ now, catalog: { ...catalog, manifests: [] }, agent: agentInput({ configured: false, health: null }) }, DEFAULT_RULE_CONFIG)
      .flatMap((o) => o.firing)
      .map((a) => a.key);
  };

  it("shows its pages as progress (no gap or staleness judged, no backup alert), then drops them: nothing kept or cached, only the store's error", async () => {
    // 30 nights, 3 objects each, 30 objects a page: the 3rd request (nights 20-29) is held, then fails.
    const real = await lifeboatStore(30);
    let reached!: () => void;
    const third = new Promise<void>((r) => (reached = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let pages = 0;
    let broken = true;
    const flaky: BackupStore = {
      description: real.description,
      list: async (o) => {
        if (++pages === 3 && broken) {
          reached();
          await gate;
          throw new StorageError(`s3: list ${real.description}: cannot reach the endpoint (ECONNRESET)`, "unreachable");
        }
        return real.list({ ...o, pageSize: 30 });
      },
      head: (k) => real.head(k),
      get: (k) => real.get(k),
      put: (k, b, o) => real.put(k, b, o),
      delete: (k) => real.delete(k),
    };
    const morning = new Date(night(29).getTime() + 8 * 3_600_000);
    const { svc, db, dataDir } = service(flaky, undefined, () => morning);

    const running = svc.refresh();
    await third;
    // Progress: the 20 oldest nights, ten days "old" — a listing under way, not a store that stopped.
    const progress = svc.view();
    expect(progress.partial).toBe(true);
    expect(progress.sets).toHaveLength(20);
    expect(progress.sets[0].id).toBe("lifeboat-2025-01-20_00-00-05");
    expect(progress.sets.flatMap((x) => x.anomalies)).toEqual([]);
    expect(svc.status()).toMatchObject({ refreshing: true, refreshedAt: null, objectCount: 0, listing: { objects: 60 } });
    expect(alertKeys(svc, db, morning)).toEqual([]);
    // Nothing of it is in lifeboat.db: a dashboard (re)started now does not serve it.
    expect(service(flaky, dataDir, () => morning).svc.view().sets).toEqual([]);

    release();
    const outcome = await running;
    expect(outcome).toMatchObject({ ok: false, objects: 0 });
    expect(svc.status()).toMatchObject({ refreshing: false, refreshedAt: null, objectCount: 0, listing: null, error: { failure: "unreachable" } });
    expect(svc.view()).toMatchObject({ sets: [], partial: false });
    expect(alertKeys(svc, db, morning)).toEqual(["LifeboatCatalogUnavailable"]);
    const restarted = service(flaky, dataDir, () => morning).svc;
    expect(restarted.view().sets).toEqual([]);
    expect(restarted.status()).toMatchObject({ refreshedAt: null, objectCount: 0, error: { failure: "unreachable" } });

    // The store answers again: the whole listing, and nothing stale.
    broken = false;
    expect(await svc.refresh()).toMatchObject({ ok: true, objects: 90, added: 90 });
    expect(svc.view()).toMatchObject({ partial: false, counts: { all: 30, flagged: 0 } });
    expect(svc.status()).toMatchObject({ objectCount: 90, error: null });
  });

  it("does not serve the rows an interrupted cold start of an older version left in lifeboat.db, and replaces them with the first whole listing", async () => {
    const store = await lifeboatStore(3);
    const { svc, db, dataDir } = service(store);
    // What such a start left: its first page's rows, one of them since deleted from the store, and no listing finished.
    const names = lifeboatObjectNames(night(0));
    const row = db.prepare("INSERT INTO catalog_objects (source, key, size, last_modified) VALUES (?, ?, ?, ?)");
    for (const key of [names.logical, names.manifest, "lifeboat_2024-12-31_00-00-05_manifest.json"]) row.run(svc.source, key, 1000, night(0).toISOString());
    db.prepare("INSERT INTO catalog_sources (source, attempted_at, error_failure, error_message, error_at) VALUES (?, ?, 'unreachable', 'ECONNRESET', ?)").run(
      svc.source,
      night(0).toISOString(),
      night(0).toISOString(),
    );
    expect(svc.view().sets).toEqual([]);
    expect(await svc.refresh()).toMatchObject({ ok: true, objects: 9, removed: 1 });
    expect(svc.view().sets.map((x) => x.id)).toEqual(["lifeboat-2025-01-03_00-00-05", "lifeboat-2025-01-02_00-00-05", "lifeboat-2025-01-01_00-00-05"]);
    expect(service(store, dataDir).svc.view().sets).toHaveLength(3);
  });
});

describe("CatalogService with an unreachable store on first load", () => {
  it("renders without waiting forever and shows the cause", async () => {
    const port = await freePort();
    const { svc } = service(new S3BackupStore({ ...creds, endpoint: `http://127.0.0.1:${port}`, bucket: "b", maxAttempts: 1 }));
    await svc.ensureLoaded();
    expect(svc.status().error?.failure).toBe("unreachable");
    expect(svc.view().sets).toEqual([]);
  });
});
