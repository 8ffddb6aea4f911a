import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startEmbeddedS3, type EmbeddedS3 } from "@/lib/storage/embedded-s3";
import { S3BackupStore } from "@/lib/storage/s3-backup-store";
import { seedObjectNames } from "@/lib/contracts/backup-names";
import { CatalogResponse, CatalogSetDetail, CatalogStatus } from "@/lib/contracts/catalog";
import { requestAs, writeRoleTokens } from "@/lib/auth/testing/tokens";

// The route handlers as Next.js runs them, against a real s3rver: the JSON shape scripts rely on.
let s3: EmbeddedS3;
let tokens: ReturnType<typeof writeRoleTokens>["tokens"];
let routes: {
  list: typeof import("./route");
  detail: typeof import("./[id]/route");
  series: typeof import("./series/route");
  status: typeof import("../catalog/route");
  refresh: typeof import("../catalog/refresh/route");
};
const DAY = 86_400_000;
// Nightly sets ending last midnight (UTC), so the newest is not stale when the test runs.
const t0 = Math.floor(Date.now() / DAY) * DAY - 9 * DAY + 9000;
const id = (i: number) => `seed-${new Date(t0 + i * DAY).toISOString().slice(0, 10)}_00-00-09`;
const SIZES = [50_100, 49_800, 50_300, 50_000, 49_900, 50_200, 50_400, 53_890, 80_510, 228_300];

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: mkdtempSync(path.join(tmpdir(), "lifeboat-api-s3-")), buckets: ["api"] });
  const store = new S3BackupStore({ endpoint: s3.endpoint, bucket: "api", prefix: "k3s", accessKeyId: "S3RVER", secretAccessKey: "S3RVER" });
  for (const [i, size] of SIZES.entries()) {
    if (i === 5) continue; // a missed night
    const n = seedObjectNames(new Date(t0 + i * DAY));
    await store.put(n.fileArchive, Readable.from([Buffer.alloc(size, 1)]));
    await store.put(n.logical, Readable.from([Buffer.alloc(size + 5000, 2)]));
  }
  await store.put("README.txt", Readable.from([Buffer.from("hello")]));
  const dataDir = mkdtempSync(path.join(tmpdir(), "lifeboat-api-data-"));
  const t = writeRoleTokens(dataDir);
  tokens = t.tokens;
  Object.assign(process.env, {
    ...t.env,
    LIFEBOAT_DATA_DIR: dataDir,
    AWS_S3_ENDPOINT: s3.endpoint,
    AWS_S3_BUCKET: "api",
    AWS_S3_PATH: "/k3s/",
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
  });
  routes = {
    list: await import("./route"),
    detail: await import("./[id]/route"),
    series: await import("./series/route"),
    status: await import("../catalog/route"),
    refresh: await import("../catalog/refresh/route"),
  };
});
afterAll(async () => {
  await s3?.stop();
});

const get = (url: string) => requestAs(tokens, "viewer", url);

describe("GET /api/backups", () => {
  it("returns the catalog in the issue's shape, newest first", async () => {
    const res = await routes.list.GET(get("/api/backups"));
    expect(res.status).toBe(200);
    const body = await res.json();
    const parsed = CatalogResponse.parse(body);
    expect(parsed.sets).toHaveLength(9);
    expect(parsed.sets[0]).toMatchObject({ id: id(9), timestamp: new Date(t0 + 9 * DAY).toISOString(), format: "seed" });
    const o = parsed.sets[0].objects[0];
    expect(Object.keys(o).sort()).toEqual(["key", "kind", "lastModified", "size"]);
    expect(o).toMatchObject({ key: seedObjectNames(new Date(t0 + 9 * DAY)).fileArchive, kind: "file-archive", size: 228_300 });
    expect(parsed.sets[0].anomalies).toContainEqual(expect.objectContaining({ kind: "file-archive", type: "growth", level: "critical" }));
    expect(parsed.sets[1].anomalies).toContainEqual(expect.objectContaining({ kind: "file-archive", type: "growth", level: "warning" }));
    expect(parsed.sets.find((s) => s.id === id(6))!.anomalies).toEqual([expect.objectContaining({ kind: "set", type: "gap", level: "warning" })]);
    for (const a of parsed.sets.flatMap((s) => s.anomalies))
      expect(Object.keys(a).every((k) => ["kind", "type", "level", "ratio", "reason"].includes(k))).toBe(true);
    expect(parsed.other).toEqual([{ key: "README.txt", size: 5, lastModified: expect.any(String) }]);
    expect(parsed.refreshedAt).not.toBeNull();
    expect(parsed.source).toBe(`s3://api/k3s at ${s3.endpoint}`);
    expect(JSON.stringify(body)).not.toContain("S3RVER");
  });

  it("filters and pages", async () => {
    const crit = CatalogResponse.parse(await (await routes.list.GET(get("/api/backups?flag=critical"))).json());
    expect(crit.sets.map((s) => s.id)).toEqual([id(9)]);
    expect(crit.counts).toMatchObject({ all: 9, critical: 1, warning: 2, gap: 1 });
    const page = CatalogResponse.parse(await (await routes.list.GET(get("/api/backups?offset=8&limit=5"))).json());
    expect(page.sets.map((s) => s.id)).toEqual([id(0)]);
    expect(page.total).toBe(9);
    const bad = await routes.list.GET(get("/api/backups?flag=nonsense"));
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: "bad_request", message: expect.stringContaining("flag") });
  });

  it("serves one set's detail, 404 for an unknown one", async () => {
    const res = await routes.detail.GET(get(`/api/backups/${id(8)}`), { params: Promise.resolve({ id: id(8) }) });
    const d = CatalogSetDetail.parse(await res.json());
    expect(d).toMatchObject({ newerId: id(9), olderId: id(7), manifest: { state: "absent" } });
    const missing = await routes.detail.GET(get("/api/backups/seed-2000-01-01_00-00-00"), { params: Promise.resolve({ id: "seed-2000-01-01_00-00-00" }) });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: "not_found" });
  });

  it("serves chart columns, status and an on-demand refresh", async () => {
    const chart = await (await routes.series.GET(get("/api/backups/series"))).json();
    expect(chart.times).toHaveLength(9);
    expect(chart.series.map((s: { kind: string }) => s.kind)).toEqual(["file-archive", "logical"]);
    expect(chart.flags.some((f: { level: string; index: number }) => f.level === "critical" && f.index === 8)).toBe(true);
    const status = CatalogStatus.parse(await (await routes.status.GET(get("/api/catalog"))).json());
    expect(status).toMatchObject({ configured: true, bucket: "api", prefix: "k3s", endpoint: s3.endpoint, error: null, objectCount: 19 });
    const r = await (await routes.refresh.POST(requestAs(tokens, "operator", "/api/catalog/refresh", { method: "POST" }))).json();
    expect(r.outcome).toMatchObject({ ok: true, added: 0, removed: 0 });
    expect(CatalogStatus.parse(r.status).refreshedAt).not.toBeNull();
  });
});
