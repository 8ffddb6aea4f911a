// `npm run bench:catalog`: the catalog with 10,000 backup sets.
//
// Fills a local s3rver with 10,000 seed-named sets (20,000 objects; reused from bench/out/ on later
// runs), then starts the built dashboard on a fresh data directory and measures:
//   - baseline: listing the 20,000 keys straight from the store (what any cold start must pay),
//   - cold: the first GET /backups (starts the listing, renders with its progress when the listing
//     takes longer than 2.5 s), the time until the listing is cached, and the first complete
//     render after it (page + chart series),
//   - warm: the history page (first, middle and last page, a filter), a set's page, the API,
//   - the dashboard server's peak RSS.
// Goals (issue 2): warm ≤ 1 s, cold ≤ 3 s. Prints the figures and their ratios to the goals.
//
// First, in this process (issue 12): evaluating every alert rule over the same 10,000 sets, as the
// dashboard does after each refresh (gather the input, evaluate, compare with lifeboat.db, reconcile
// notifications), against the catalog's own view computation (grouping + anomalies) in the same run.
// Goal: ≤ 50 ms per refresh. `BENCH_PART=alerts` runs only this part (no build, no s3rver).
//
// Last (issue 15): a refresh of the same bucket with one new set, as the catalog's timer does it
// (only each name series after its newest known key), against the raw full listing in the same run.
// Goal: ≤ 0.1× the full listing. `BENCH_PART=refresh` runs only this part (s3rver, no build).
// The npm script runs node with the react-server condition so server modules load outside Next.js.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { startEmbeddedS3 } from "../lib/storage/embedded-s3";
import { S3BackupStore, listAll, type BackupStore } from "../lib/storage";
import { CatalogService } from "../lib/catalog/catalog-service";
import { seedObjectNames } from "../lib/contracts/backup-names";
import { freePort } from "../lib/net/ports";
import { startProcess, waitForHttp, type RunningProcess } from "../lib/process";
import { groupObjects } from "../lib/backups/grouping";
import { detectAnomalies } from "../lib/backups/anomalies";
import { openDatabase } from "../lib/db/database";
import { AlertService } from "../lib/alerts/alert-service";
import { DEFAULT_RULE_CONFIG, type RuleSet } from "../lib/alerts/rules/types";
import { agentInput } from "../lib/alerts/testing/fixtures";
import { Notifier } from "../lib/notify/notifier";
import type { Verification } from "../lib/contracts/catalog";
import pino from "pino";

const SETS = Number(process.env.BENCH_SETS || 10_000);
const WARM_RUNS = 5;
const GOALS = { warmMs: 1000, coldMs: 3000, alertsMs: 50, refreshRatio: 0.1 };
const OUT = path.resolve("bench", "out", `catalog-${SETS}`);
const DIST = process.env.LIFEBOAT_NEXT_DIST || ".next";
const HOUR = 3_600_000;
const creds = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER", region: "us-east-1" };

const ms = (t: number) => `${t.toFixed(0)} ms`;
// Every page and API call needs a signed-in caller: the benchmark is a viewer with an API token.
const TOKEN = `bench-viewer-${randomBytes(24).toString("base64url")}`;
const AUTH = { authorization: `Bearer ${TOKEN}` };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** Hourly sets whose sizes drift slowly, with the incident's growth at the end (so flags exist). */
function setSize(i: number): number {
  const fromEnd = SETS - 1 - i;
  if (fromEnd === 0) return 4_566;
  if (fromEnd === 1) return 1_610;
  return 1_000 + Math.round(40 * Math.sin(i / 50)) + ((i * 7919) % 23);
}

async function fill(endpoint: string): Promise<void> {
  const marker = path.join(OUT, "filled.json");
  if (existsSync(marker)) {
    console.log(`store: reusing ${SETS.toLocaleString("en-US")} sets in ${OUT} (delete it to refill)`);
    return;
  }
  const store = new S3BackupStore({ ...creds, endpoint, bucket: "bench" });
  const start = Date.UTC(2024, 0, 1);
  const keys: { key: string; size: number }[] = [];
  for (let i = 0; i < SETS; i++) {
    const n = seedObjectNames(new Date(start + i * HOUR));
    keys.push({ key: n.fileArchive, size: setSize(i) }, { key: n.logical, size: Math.round(setSize(i) * 1.3) });
  }
  const t0 = Date.now();
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < keys.length) {
      const { key, size } = keys[next++];
      await store.client.send(new PutObjectCommand({ Bucket: "bench", Key: key, Body: Buffer.alloc(size, 0x5a) }));
      if (++done % 4000 === 0) process.stdout.write(`store: ${done.toLocaleString("en-US")}/${keys.length.toLocaleString("en-US")} objects\n`);
    }
  };
  await Promise.all(Array.from({ length: 24 }, worker));
  writeFileSync(marker, JSON.stringify({ sets: SETS, objects: keys.length, seconds: (Date.now() - t0) / 1000 }));
  console.log(`store: filled ${keys.length.toLocaleString("en-US")} objects in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

/** Peak resident memory (VmHWM) of a process, from /proc; 0 when unavailable. */
function peakRssKb(pid: number): number {
  try {
    return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

async function timed(url: string): Promise<{ ms: number; bytes: number; status: number }> {
  const t = performance.now();
  const res = await fetch(url, { headers: AUTH });
  const body = await res.arrayBuffer();
  return { ms: performance.now() - t, bytes: body.byteLength, status: res.status };
}

/**
 * What a person waits for: Chromium opens /backups and the table, the chart (10,000 points per
 * series) and its flag markers are drawn. Median of 3 loads; null when Chromium is not installed.
 */
async function browserRender(base: string): Promise<number | null> {
  const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
  if (!existsSync(executablePath)) return null;
  const { chromium } = await import("@playwright/test");
  const browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-gpu", "--no-first-run"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 }, extraHTTPHeaders: AUTH });
    const runs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      await page.goto(base + "/backups");
      await page.locator("[data-testid=history-table] tbody tr").first().waitFor();
      await page.locator("[data-testid=size-chart] canvas").first().waitFor();
      await page.locator("[data-testid=chart-flag]").first().waitFor();
      runs.push(performance.now() - t);
    }
    return median(runs);
  } finally {
    await browser.close();
  }
}

/**
 * The alert rules over SETS sets (the same series as the store below, in memory), each evaluation as
 * the dashboard runs it after a refresh. Returns true when the goal is met.
 */
async function alertsCost(): Promise<boolean> {
  const start = Date.UTC(2024, 0, 1);
  const objects = Array.from({ length: SETS }, (_, i) => {
    const n = seedObjectNames(new Date(start + i * HOUR));
    const at = new Date(start + i * HOUR).toISOString();
    return [
      { key: n.fileArchive, size: setSize(i), lastModified: at },
      { key: n.logical, size: Math.round(setSize(i) * 1.3), lastModified: at },
    ];
  }).flat();
  const now = new Date(start + SETS * HOUR);
  const viewRuns: number[] = [];
  let sets: RuleSet[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const g = groupObjects(objects).sets;
    const anomalies = detectAnomalies(g, { now });
    sets = g.map((x) => ({
      id: x.id,
      format: x.format,
      timestamp: x.time.toISOString(),
      objects: x.objects,
      missing: x.missing,
      anomalies: anomalies.get(x.id) ?? [],
    }));
    viewRuns.push(performance.now() - t);
  }
  // A drill result for every 20th set, as a store with drills running for years would have.
  const verifications = new Map<string, Verification>(sets.filter((_, i) => i % 20 === 0).map((x) => [x.id, { state: "verified", at: null, reason: "ok" }]));
  const dir = mkdtempSync(path.join(tmpdir(), "lifeboat-bench-alerts-"));
  const db = openDatabase(dir);
  const log = pino({ level: "silent" });
  const notifier = new Notifier({ db, log, envChannels: [], publicUrl: "http://127.0.0.1:3000" });
  notifier.create({ label: "bench", settings: { type: "webhook", url: "http://127.0.0.1:9/never-sent" }, enabled: false });
  const alerts = new AlertService({
    db,
    notifier,
    log,
    config: DEFAULT_RULE_CONFIG,
    now: () => now,
    sources: {
      catalog: () => ({ source: "bench", configured: true, sets, error: null, refreshedAt: now.toISOString(), refreshIntervalMs: 300_000, verifications }),
      manifests: async () => [],
      agent: () => agentInput(),
    },
  });
  const runs: number[] = [];
  let fired = 0;
  for (let i = 0; i < 21; i++) {
    const r = await alerts.evaluate("bench");
    if (i === 0) fired = r.started.length;
    else runs.push(r.ms); // the first one also starts the alerts (one-time inserts)
  }
  db.close();
  const viewMs = median(viewRuns);
  const evalMs = median(runs);
  console.log(`alerts benchmark: ${SETS.toLocaleString("en-US")} sets, ${verifications.size} drill results, ${fired} alerts firing`);
  console.log(`  baseline  the catalog's view (grouping + anomaly flags)   ${viewMs.toFixed(1).padStart(6)} ms`);
  console.log(
    `  alerts    every rule, compared with lifeboat.db, notified ${evalMs.toFixed(1).padStart(6)} ms per refresh (median of ${runs.length}; max ${Math.max(...runs).toFixed(1)} ms)  goal ≤ ${GOALS.alertsMs} ms → ${(evalMs / GOALS.alertsMs).toFixed(2)} of the goal, ${((100 * evalMs) / viewMs).toFixed(1)} % of the view`,
  );
  return evalMs <= GOALS.alertsMs;
}

/** Median time of the raw full listing of the store (what a refresh used to cost), over `runs`. */
async function rawListing(store: BackupStore, runs: number): Promise<{ ms: number; objects: number }> {
  const times: number[] = [];
  let objects = 0;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    objects = 0;
    for await (const _ of listAll(store)) objects++;
    times.push(performance.now() - t);
  }
  return { ms: median(times), objects };
}

/**
 * A catalog refresh with one new set in the bucket (the timer's incremental refresh), against the
 * raw full listing, both medians of 5 in this run. Each new set is removed again afterwards, so the
 * bucket stays as `fill` made it. Returns true when the goal is met.
 */
async function refreshCost(endpoint: string): Promise<boolean> {
  const s3store = new S3BackupStore({ ...creds, endpoint, bucket: "bench" });
  let requests = 0;
  const store: BackupStore = {
    description: s3store.description,
    list: (o) => (requests++, s3store.list(o)),
    head: (k) => s3store.head(k),
    get: (k) => s3store.get(k),
    put: (k, b, o) => s3store.put(k, b, o),
    delete: (k) => s3store.delete(k),
  };
  const raw = await rawListing(s3store, 5);
  const dir = mkdtempSync(path.join(tmpdir(), "lifeboat-bench-refresh-"));
  const svc = new CatalogService({
    db: openDatabase(dir),
    store,
    location: { endpoint, bucket: "bench", prefix: null },
    refreshIntervalMs: 300_000,
    log: pino({ level: "silent" }),
  });
  const cold = await svc.refresh(); // the first refresh after start is a full listing
  if (!cold.ok) throw new Error("the catalog's first listing failed");
  const start = Date.UTC(2024, 0, 1);
  const times: number[] = [];
  const added: string[] = [];
  let req = 0;
  try {
    for (let i = 0; i < 5; i++) {
      const n = seedObjectNames(new Date(start + (SETS + i) * HOUR));
      for (const key of [n.fileArchive, n.logical]) {
        await s3store.client.send(new PutObjectCommand({ Bucket: "bench", Key: key, Body: Buffer.alloc(1000, 0x5a) }));
        added.push(key);
      }
      requests = 0;
      const r = await svc.refresh();
      if (!r.ok || r.full || r.added !== 2) throw new Error(`the incremental refresh did not find the new set: ${JSON.stringify(r)}`);
      times.push(r.ms);
      req = requests;
    }
  } finally {
    for (const key of added) await s3store.delete(key);
  }
  const incMs = median(times);
  const ratio = incMs / raw.ms;
  console.log(`refresh benchmark: ${raw.objects.toLocaleString("en-US")} objects in s3rver, one new set per refresh`);
  console.log(`  baseline  raw full listing of the store            ${ms(raw.ms).padStart(9)}  (median of 5)`);
  console.log(`  cold      the catalog's first (full) listing        ${ms(cold.ms).padStart(9)}  (${cold.requests} requests)`);
  console.log(
    `  refresh   one new set, only what is new             ${ms(incMs).padStart(9)}  (median of 5, ${req} requests) → ${ratio.toFixed(3)}× the full listing, goal ≤ ${GOALS.refreshRatio}× → ${ratio <= GOALS.refreshRatio ? "met" : "NOT met"}`,
  );
  return ratio <= GOALS.refreshRatio;
}

async function main(): Promise<void> {
  if (process.env.BENCH_PART === "refresh") {
    mkdirSync(OUT, { recursive: true });
    const s3 = await startEmbeddedS3({ directory: path.join(OUT, "s3"), buckets: ["bench"] });
    try {
      await fill(s3.endpoint);
      process.exitCode = (await refreshCost(s3.endpoint)) ? 0 : 1;
    } finally {
      await s3.stop();
    }
    return;
  }
  const alertsOk = await alertsCost();
  if (process.env.BENCH_PART === "alerts") {
    process.exitCode = alertsOk ? 0 : 1;
    return;
  }
  mkdirSync(OUT, { recursive: true });
  if (!existsSync(path.join(DIST, "BUILD_ID"))) {
    console.log(`building the dashboard into ${DIST}…`);
    const r = spawnSync("node_modules/.bin/next", ["build"], {
      stdio: "inherit",
      env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", LIFEBOAT_NEXT_DIST: DIST },
    });
    if (r.status !== 0) throw new Error("next build failed");
  }
  const s3 = await startEmbeddedS3({ directory: path.join(OUT, "s3"), buckets: ["bench"] });
  let dash: RunningProcess | undefined;
  try {
    await fill(s3.endpoint);

    // Baseline: the raw listing.
    const store = new S3BackupStore({ ...creds, endpoint: s3.endpoint, bucket: "bench" });
    const t = performance.now();
    let n = 0;
    for await (const _ of listAll(store)) n++;
    const listMs = performance.now() - t;
    console.log(`baseline: listing ${n.toLocaleString("en-US")} objects straight from s3rver: ${ms(listMs)}`);

    const port = await freePort();
    const dataDir = mkdtempSync(path.join(tmpdir(), "lifeboat-bench-catalog-"));
    // The dashboard logs JSON lines; keep its own measure of the listing ("catalog refreshed").
    let insideMs = 0;
    const tokens = `${dataDir}.tokens`;
    writeFileSync(tokens, `viewer ${TOKEN}\n`, { mode: 0o600 });
    dash = startProcess(process.execPath, ["--import", "tsx", "lib/http/dashboard-server.ts", "--port", String(port), "--host", "127.0.0.1"], {
      env: {
        LIFEBOAT_API_TOKENS_FILE: tokens,
        ...process.env,
        NEXT_TELEMETRY_DISABLED: "1",
        LIFEBOAT_NEXT_DIST: DIST,
        LIFEBOAT_DATA_DIR: dataDir,
        AWS_S3_ENDPOINT: s3.endpoint,
        AWS_S3_BUCKET: "bench",
        AWS_ACCESS_KEY_ID: "S3RVER",
        AWS_SECRET_ACCESS_KEY: "S3RVER",
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
        LOG_LEVEL: "info",
      },
      keepOutput: false,
      onLine(line, stream) {
        if (stream === "stderr") return void process.stderr.write(line + "\n");
        const m = /"msg":"catalog refreshed"/.test(line) && /"objects":(\d+),"added":\d+,"changed":\d+,"removed":\d+,"ms":(\d+)/.exec(line);
        if (m && !insideMs) insideMs = Number(m[2]);
      },
    });
    const base = `http://127.0.0.1:${port}`;
    await waitForHttp(base + "/api/livez", { timeoutMs: 60_000, what: "the dashboard", proc: dash });

    // Cold: the first page view starts the listing; it renders at once (with progress) or complete.
    const coldStart = performance.now();
    const firstPage = await timed(base + "/backups");
    if (firstPage.status !== 200) throw new Error(`the first page failed: ${firstPage.status}`);
    for (;;) {
      const st = (await (await fetch(base + "/api/catalog", { headers: AUTH })).json()) as { refreshedAt: string | null; error: { message: string } | null };
      if (st.refreshedAt) break;
      if (st.error) throw new Error(`the listing failed: ${st.error.message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const listedMs = performance.now() - coldStart;
    const coldPage = await timed(base + "/backups");
    const coldSeries = await timed(base + "/api/backups/series");
    if (coldPage.status !== 200 || coldSeries.status !== 200) throw new Error(`cold requests failed: ${coldPage.status} ${coldSeries.status}`);
    const coldMs = listedMs + coldPage.ms + coldSeries.ms;
    // React separates text fragments with <!-- -->.
    const html = (await (await fetch(base + "/backups", { headers: AUTH })).text()).replaceAll("<!-- -->", "");
    if (!html.includes(`of ${SETS.toLocaleString("en-US")}`)) throw new Error("the history page does not show all sets: the cold listing was cut short");

    // Warm: from the cache.
    const api = (await (await fetch(base + "/api/backups?limit=1&offset=" + Math.floor(SETS / 2), { headers: AUTH })).json()) as { sets: { id: string }[] };
    const middleId = api.sets[0].id;
    const pages: Record<string, string> = {
      "history, page 1": "/backups",
      "history, middle page": `/backups?page=${Math.ceil(SETS / 100)}`,
      "history, last page": `/backups?page=${Math.ceil(SETS / 50)}`,
      "history, flagged": "/backups?flag=flagged",
      "a set's page": `/backups/${middleId}`,
      "chart series (API)": "/api/backups/series",
      "GET /api/backups?limit=50": "/api/backups?limit=50",
    };
    const warm: Record<string, { ms: number; bytes: number }> = {};
    for (const [name, p] of Object.entries(pages)) {
      const runs = [];
      for (let i = 0; i < WARM_RUNS; i++) runs.push(await timed(base + p));
      warm[name] = { ms: median(runs.map((r) => r.ms)), bytes: runs[0].bytes };
    }
    const full = await timed(base + "/api/backups");
    const browserMs = await browserRender(base);
    const warmPageMs = Math.max(...Object.values(warm).map((w) => w.ms), browserMs ?? 0);
    const rssMb = peakRssKb(dash.child.pid!) / 1024;

    console.log("");
    console.log(`catalog benchmark: ${SETS.toLocaleString("en-US")} sets (${(SETS * 2).toLocaleString("en-US")} objects) in s3rver`);
    console.log(`  baseline  raw listing of the store                 ${ms(listMs).padStart(9)}`);
    console.log(`  cold      first GET /backups (shows progress)      ${ms(firstPage.ms).padStart(9)}`);
    console.log(
      `            listing cached (from the first request)  ${ms(listedMs).padStart(9)}  (${(listedMs / listMs).toFixed(2)}× the raw listing; the dashboard's own listing took ${ms(insideMs)})`,
    );
    console.log(`            + first complete page + chart series     ${ms(coldPage.ms + coldSeries.ms).padStart(9)}`);
    console.log(
      `            = cold listing + first render            ${ms(coldMs).padStart(9)}  goal ≤ ${GOALS.coldMs} ms → ${(coldMs / GOALS.coldMs).toFixed(2)} of the goal`,
    );
    for (const [name, w] of Object.entries(warm)) console.log(`  warm      ${name.padEnd(40)} ${ms(w.ms).padStart(9)}  (${(w.bytes / 1024).toFixed(0)} KB)`);
    console.log(
      `  warm      slowest of the above                     ${ms(warmPageMs).padStart(9)}  goal ≤ ${GOALS.warmMs} ms → ${(warmPageMs / GOALS.warmMs).toFixed(2)} of the goal`,
    );
    if (browserMs !== null)
      console.log(
        `  warm      in Chromium: open /backups → chart drawn  ${ms(browserMs).padStart(9)}  goal ≤ ${GOALS.warmMs} ms → ${(browserMs / GOALS.warmMs).toFixed(2)} of the goal`,
      );
    console.log(`  (script)  GET /api/backups, all sets               ${ms(full.ms).padStart(9)}  (${(full.bytes / 1e6).toFixed(1)} MB)`);
    console.log(`  memory    dashboard server peak RSS                ${rssMb.toFixed(0).padStart(6)} MB`);
    await dash.stop();
    dash = undefined;
    console.log("");
    const refreshOk = await refreshCost(s3.endpoint);
    const ok = coldMs <= GOALS.coldMs && warmPageMs <= GOALS.warmMs && alertsOk && refreshOk;
    console.log(ok ? "\nboth goals met" : "\nGOAL MISSED (see the ratios above)");
    process.exitCode = ok ? 0 : 1;
  } finally {
    await dash?.stop();
    await s3.stop();
  }
}

main().catch((err) => {
  console.error(`bench:catalog failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
