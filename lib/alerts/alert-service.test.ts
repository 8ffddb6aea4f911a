import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Db } from "../db/database";
import { seedObjectNames } from "../contracts/backup-names";
import { S3BackupStore } from "../storage/s3-backup-store";
import { startEmbeddedS3, type EmbeddedS3 } from "../storage/embedded-s3";
import { CatalogService } from "../catalog/catalog-service";
import { Notifier } from "../notify/notifier";
import { envChannels } from "../notify/env-channels";
import { startHttpReceiver, type HttpReceiver } from "../notify/testing/receivers";
import { AlertService } from "./alert-service";
import { catalogSources } from "./sources";
import { DEFAULT_RULE_CONFIG } from "./rules/types";
import { agentInput, catalogInput, healthReport, ruleSets, seedHistory } from "./testing/fixtures";

// The growth episode end to end: a real s3rver bucket, the real catalog, the alert service,
// and real receivers on loopback. The growth fires one critical alert per kind, delivered once per
// channel however often the catalog refreshes, and resolves when a normal-sized set follows; a
// receiver that keeps failing is retried and holds up nobody.

const log = pino({ level: "silent" });
const DAY = 86_400_000;
const night = (i: number) => new Date(Date.UTC(2024, 11, 1, 0, 0, 5) + i * DAY);
const INCIDENT = [53.89, 54.2, 53.7, 54.4, 54.0, 53.9, 54.1, 54.3]; // "MB" scaled to kB

let s3: EmbeddedS3;
let receiver: HttpReceiver;
let dir: string;
let db: Db;
let store: S3BackupStore;
let catalog: CatalogService;
let notifier: Notifier;
let alerts: AlertService;
let clock = night(INCIDENT.length - 1).getTime() + 8 * 3_600_000;

async function putNight(i: number, kb: number): Promise<void> {
  const n = seedObjectNames(night(i));
  await store.put(n.fileArchive, Readable.from([Buffer.alloc(Math.round(kb * 1000), 1)]));
  await store.put(n.logical, Readable.from([Buffer.alloc(Math.round(kb * 1300), 2)]));
  clock = night(i).getTime() + 8 * 3_600_000;
}

/** A refresh (which evaluates through the catalog's hook), then `extra` more evaluations as later refreshes would. */
async function refresh(extra = 2): Promise<void> {
  await catalog.refresh();
  for (let i = 0; i < extra; i++) await alerts.evaluate("test");
  // Retries of the broken receiver included.
  for (const deadline = Date.now() + 10_000; notifier.dispatcher.pending() > 0 && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 10));
  await notifier.dispatcher.idle();
}

const posts = (p: string) => receiver.requests.filter((r) => r.path === p).map((r) => JSON.parse(r.body) as Record<string, string>);

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "lifeboat-alerts-"));
  s3 = await startEmbeddedS3({ directory: path.join(dir, "s3"), buckets: ["backups"] });
  receiver = await startHttpReceiver();
  receiver.respond("/broken", [500]);
  store = new S3BackupStore({ endpoint: s3.endpoint, bucket: "backups", accessKeyId: "S3RVER", secretAccessKey: "S3RVER", region: "us-east-1" });
  db = openDatabase(path.join(dir, "data"));
  const now = () => new Date(clock);
  catalog = new CatalogService({ db, store, location: { endpoint: s3.endpoint, bucket: "backups", prefix: null }, refreshIntervalMs: 300_000, log, now });
  notifier = new Notifier({
    db,
    log,
    envChannels: envChannels({ LIFEBOAT_WEBHOOK_URL: `${receiver.url}/hook`, LIFEBOAT_PING_URL: `${receiver.url}/ping` }),
    publicUrl: "http://lifeboat.test",
    backoffMs: [20, 20],
    tickMs: 10,
  });
  notifier.create({ label: "Team chat", settings: { type: "slack", url: `${receiver.url}/slack/T0/B0/secret` } });
  notifier.create({ label: "Broken receiver", settings: { type: "webhook", url: `${receiver.url}/broken` } });
  notifier.start();
  // No agent here: the backup rules are what this test is about.
  alerts = new AlertService({
    db,
    notifier,
    // The growth summary leads with the set's explanation (lib/statistics in the process); here a stand-in line per newest set.
    sources: catalogSources(
      catalog,
      db,
      () => agentInput({ configured: false, health: null }),
      async (sets) => new Map(sets.map((s) => [s.id, `Explained ${s.id}.`])),
    ),
    config: DEFAULT_RULE_CONFIG,
    log,
    now,
  });
  catalog.onRefreshed(() => alerts.evaluate("catalog refresh"));
  for (let i = 0; i < INCIDENT.length; i++) await putNight(i, INCIDENT[i]);
});

afterAll(async () => {
  notifier?.stop();
  await receiver?.close();
  await s3?.stop();
  db?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("a growth episode in a real bucket", () => {
  it("normal nights fire nothing and tell no one", async () => {
    await refresh();
    expect(alerts.summary()).toEqual({ firing: 0, critical: 0 });
    expect(receiver.requests).toHaveLength(0);
  });

  it("the 228 MB night fires one critical alert per kind, delivered once per channel however often it is evaluated", async () => {
    await putNight(INCIDENT.length, 228.3);
    await refresh(5);
    const firing = alerts.response().firing;
    expect(firing.map((a) => `${a.key} ${a.severity} ${a.setId}`)).toEqual([
      "LifeboatBackupGrowth:file-archive critical seed-2024-12-09_00-00-05",
      "LifeboatBackupGrowth:logical critical seed-2024-12-09_00-00-05",
    ]);
    const hook = posts("/hook");
    expect(hook.map((b) => `${b.alert} ${b.severity} ${b.state} ${b.setId}`)).toEqual([
      "LifeboatBackupGrowth critical firing seed-2024-12-09_00-00-05",
      "LifeboatBackupGrowth critical firing seed-2024-12-09_00-00-05",
    ]);
    expect(hook[0].url).toBe("http://lifeboat.test/backups/seed-2024-12-09_00-00-05");
    expect(hook[0].summary).toMatch(/228\.3 KB is 4\.2\d× the median of the previous 7 file archives/);
    expect(hook[0].summary).toMatch(/^Explained seed-2024-12-09_00-00-05\. — /);
    expect(posts("/slack/T0/B0/secret")).toHaveLength(2);
    // The broken receiver was tried three times per alert (two retries), the others were not held up.
    expect(receiver.requests.filter((r) => r.path === "/broken")).toHaveLength(6);
    const delivered = firing.flatMap((a) => a.deliveries);
    expect(delivered.filter((d) => d.channelLabel === "Broken receiver").map((d) => `${d.outcome} ${d.status} #${d.attempt}`)).toEqual([
      "failed 500 #3",
      "retrying 500 #2",
      "retrying 500 #1",
      "failed 500 #3",
      "retrying 500 #2",
      "retrying 500 #1",
    ]);
    // The dead-man's switch heard of the new set (the first listing's history was not news).
    expect(receiver.requests.filter((r) => r.path === "/ping")).toHaveLength(1);
  });

  it("a normal-sized set the next night resolves both, once, after they stayed clear for 15 minutes", async () => {
    await putNight(INCIDENT.length + 1, 54.6);
    await refresh(5);
    // Hysteresis: clear now, but not for resolveAfterMs yet: still firing, nothing sent.
    expect(alerts.summary()).toEqual({ firing: 2, critical: 2 });
    expect(posts("/hook")).toHaveLength(2);
    clock += DEFAULT_RULE_CONFIG.resolveAfterMs;
    await refresh(2);
    expect(alerts.summary()).toEqual({ firing: 0, critical: 0 });
    const resolved = alerts.response().history;
    expect(resolved.map((a) => `${a.key} ${a.state}`).sort()).toEqual(["LifeboatBackupGrowth:file-archive resolved", "LifeboatBackupGrowth:logical resolved"]);
    expect(posts("/hook").map((b) => b.state)).toEqual(["firing", "firing", "resolved", "resolved"]);
    expect(posts("/slack/T0/B0/secret")).toHaveLength(4);
    expect(receiver.requests.filter((r) => r.path === "/ping")).toHaveLength(2);
  });
});

describe("escalation and reminders", () => {
  it("a warning that becomes critical is sent again once; a reminder repeats a firing alert every N hours, once per period", async () => {
    const dir2 = mkdtempSync(path.join(tmpdir(), "lifeboat-alerts-remind-"));
    const db2 = openDatabase(dir2);
    let now = Date.parse("2024-12-09T08:00:00Z"); // the morning after the 9th night of seedHistory
    const sizes = [54, 54, 53, 55, 54, 54, 53, 54].map((x) => x * 1e6);
    let objects = seedHistory([...sizes, 80e6]);
    const n = new Notifier({
      db: db2,
      log,
      envChannels: envChannels({ LIFEBOAT_WEBHOOK_URL: `${receiver.url}/remind` }),
      publicUrl: "http://x",
      now: () => new Date(now),
    });
    const svc = new AlertService({
      db: db2,
      notifier: n,
      log,
      config: DEFAULT_RULE_CONFIG,
      now: () => new Date(now),
      sources: {
        catalog: () => ({ source: "remind", ...catalogInput(ruleSets(objects, new Date(now))) }),
        manifests: async () => [],
        agent: () => agentInput({ configured: false, health: null }),
      },
    });
    const sent = () => receiver.requests.filter((r) => r.path === "/remind").map((r) => JSON.parse(r.body) as Record<string, unknown>);
    await svc.evaluate("t");
    await n.dispatcher.idle();
    expect(sent().map((b) => `${b.severity} ${b.state}`)).toEqual(["warning firing", "warning firing"]); // file archive and logical
    // The next night is 228 MB: the same alerts escalate, once each.
    objects = seedHistory([...sizes, 80e6, 228e6]);
    now += 86_400_000;
    for (let i = 0; i < 3; i++) await svc.evaluate("t");
    await n.dispatcher.idle();
    expect(
      sent()
        .slice(2)
        .map((b) => `${b.severity} ${b.escalatedFrom}`),
    ).toEqual(["critical warning", "critical warning"]);
    // Reminders every 2 hours: none after 1 h, one each after 2 h, none again right after.
    n.setRemindEveryHours(2);
    now += 3_600_000;
    await svc.evaluate("t");
    now += 3_600_000;
    await svc.evaluate("t");
    await svc.evaluate("t");
    await n.dispatcher.idle();
    expect(
      sent()
        .slice(4)
        .map((b) => `${b.state} ${b.reminder}`),
    ).toEqual(["firing true", "firing true"]);
    db2.close();
    rmSync(dir2, { recursive: true, force: true });
  });
});

describe("hysteresis", () => {
  it("a WAL hovering around its threshold fires once, and resolves once it stayed below for 15 minutes, across a restart", async () => {
    const dir2 = mkdtempSync(path.join(tmpdir(), "lifeboat-alerts-flap-"));
    let db2 = openDatabase(dir2);
    let now = Date.parse("2024-12-09T08:00:00Z");
    const objects = seedHistory([54, 54, 53, 55, 54, 54, 53, 54, 54].map((x) => x * 1e6));
    let wal = 0;
    const start = () => {
      const n = new Notifier({
        db: db2,
        log,
        envChannels: envChannels({ LIFEBOAT_WEBHOOK_URL: `${receiver.url}/flap` }),
        publicUrl: "http://x",
        now: () => new Date(now),
      });
      const svc = new AlertService({
        db: db2,
        notifier: n,
        log,
        config: { ...DEFAULT_RULE_CONFIG, walWarningBytes: 100e6 },
        now: () => new Date(now),
        sources: {
          catalog: () => ({ source: "flap", ...catalogInput(ruleSets(objects, new Date(now))) }),
          manifests: async () => [],
          agent: () => {
            const h = healthReport();
            return agentInput({ health: { ...h, files: { ...h.files, wal: { ...h.files.wal, bytes: wal } } } });
          },
        },
      });
      return { n, svc };
    };
    const wals = () =>
      receiver.requests
        .filter((r) => r.path === "/flap")
        .map((r) => JSON.parse(r.body) as Record<string, string>)
        .filter((b) => b.alert === "LifeboatWalTooLarge")
        .map((b) => b.state);
    let { n, svc } = start();
    // An hour of agent polls every 5 minutes, the WAL at 101 MB and 99 MB in turn around 100 MB.
    for (let i = 0; i < 12; i++) {
      wal = i % 2 ? 99e6 : 101e6;
      await svc.evaluate("poll");
      now += 300_000;
    }
    await n.dispatcher.idle();
    expect(wals()).toEqual(["firing"]);
    // The hour's last poll (99 MB) started the wait; two more polls below: clear for 10 minutes, still firing.
    wal = 99e6;
    for (let i = 0; i < 2; i++) {
      await svc.evaluate("poll");
      now += 300_000;
    }
    await n.dispatcher.idle();
    expect(svc.summary().firing).toBe(1);
    // The dashboard restarts: the wait is in the database, so the poll 15 minutes after the first clear one resolves.
    n.stop();
    db2.close();
    db2 = openDatabase(dir2);
    ({ n, svc } = start());
    await svc.evaluate("poll");
    await n.dispatcher.idle();
    expect(svc.summary().firing).toBe(0);
    expect(wals()).toEqual(["firing", "resolved"]);
    db2.close();
    rmSync(dir2, { recursive: true, force: true });
  });
});
