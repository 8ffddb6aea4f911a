import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { openDatabase, type Db } from "../db/database";
import { Notifier, type EpisodeRef } from "./notifier";
import { envChannels } from "./env-channels";
import { attempt } from "./send";
import { startHttpReceiver, startSmtpReceiver, type HttpReceiver, type SmtpReceiver } from "./testing/receivers";

// Every format against a real receiver on loopback; retries, back-off and independence of channels;
// what the log and the browser may see of a secret.

let http: HttpReceiver;
let smtp: SmtpReceiver;
let dir: string;
let db: Db;
let logged: string;

const SECRET = "whsec-0123456789abcdef";
const episode = (over: Partial<EpisodeRef> = {}): EpisodeRef => ({
  id: 1,
  key: "LifeboatBackupGrowth:file-archive",
  name: "LifeboatBackupGrowth",
  severity: "critical",
  summary: "The newest file archive (seed-2024-12-18_00-00-00) grew: 228.3 MB is 4.22× the median of the previous 7 file archives (54.10 MB).",
  setId: "seed-2024-12-18_00-00-00",
  node: null,
  path: "/backups/seed-2024-12-18_00-00-00",
  startedAt: "2024-12-18T08:00:00.000Z",
  resolvedAt: null,
  ...over,
});

function notifier(envOver: Record<string, string> = {}, backoffMs = [50, 100]): Notifier {
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logged += chunk.toString();
      cb();
    },
  });
  const n = new Notifier({
    db,
    log: pino({ level: "info" }, sink),
    envChannels: envChannels(envOver),
    publicUrl: "https://lifeboat.example.com",
    backoffMs,
    timeoutMs: 1500,
    tickMs: 20,
  });
  n.start();
  started.push(n);
  return n;
}
const started: Notifier[] = [];

/** The decoded Subject header of a raw mail (RFC 2047 Q-encoded words). */
function subject(raw: string): string {
  const header = /^Subject: (.*(?:\r?\n[ \t].*)*)/m.exec(raw)?.[1] ?? "";
  return header
    .replace(/\r?\n[ \t]/g, "")
    .replace(/\?=\s*=\?/g, "?==?")
    .replace(/=\?UTF-8\?Q\?(.*?)\?=/gi, (_, q: string) =>
      Buffer.from(
        q.replace(/_/g, " ").replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
        "latin1",
      ).toString("utf8"),
    );
}

/** Inserts the episode row the sent-table refers to. */
function storeEpisode(e: EpisodeRef): void {
  db.prepare(
    "INSERT OR REPLACE INTO alert_episodes (id, key, name, severity, summary, set_id, node, path, started_at, updated_at, resolved_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
  ).run(e.id, e.key, e.name, e.severity, e.summary, e.setId, e.node, e.path, e.startedAt, e.startedAt, e.resolvedAt);
}

beforeAll(async () => {
  http = await startHttpReceiver();
  smtp = await startSmtpReceiver({ user: "lifeboat", password: "smtp-pass-S3cret" });
});
afterAll(async () => {
  await http.close();
  await smtp.close();
});
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "lifeboat-notify-"));
  db = openDatabase(dir);
  logged = "";
  http.requests.length = 0;
  smtp.mails.length = 0;
});
afterEach(() => {
  for (const n of started.splice(0)) n.stop();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("each channel's format, received by a real server", () => {
  it("generic webhook: the issue's fields, signed with HMAC-SHA256 over the exact body", async () => {
    const n = notifier({ LIFEBOAT_WEBHOOK_URL: `${http.url}/hook`, LIFEBOAT_WEBHOOK_SECRET: SECRET });
    storeEpisode(episode());
    n.reconcile([episode()], []);
    const [req] = await http.waitFor(1, "/hook");
    expect(req.method).toBe("POST");
    expect(req.headers["content-type"]).toBe("application/json");
    const body = JSON.parse(req.body);
    expect(body).toMatchObject({
      alert: "LifeboatBackupGrowth",
      severity: "critical",
      state: "firing",
      setId: "seed-2024-12-18_00-00-00",
      summary: episode().summary,
      url: "https://lifeboat.example.com/backups/seed-2024-12-18_00-00-00",
    });
    const expected = "sha256=" + createHmac("sha256", SECRET).update(req.body).digest("hex");
    expect(req.headers["x-lifeboat-signature"]).toBe(expected);
    // Resolved: once, to the channel that got the firing.
    const done = episode({ resolvedAt: "2024-12-19T08:00:00.000Z" });
    storeEpisode(done);
    n.reconcile([], [done]);
    n.reconcile([], [done]);
    await n.dispatcher.idle();
    const reqs = await http.waitFor(2, "/hook");
    expect(reqs).toHaveLength(2);
    expect(JSON.parse(reqs[1].body)).toMatchObject({ state: "resolved", alert: "LifeboatBackupGrowth", resolvedAt: "2024-12-19T08:00:00.000Z" });
  });

  it("a webhook without a secret is not signed; an alert without a set has no setId", async () => {
    const n = notifier({ LIFEBOAT_WEBHOOK_URL: `${http.url}/plain` });
    const e = episode({
      key: "LifeboatWalTooLarge",
      name: "LifeboatWalTooLarge",
      severity: "warning",
      setId: null,
      node: "k3s-server",
      path: "/alerts/LifeboatWalTooLarge",
    });
    storeEpisode(e);
    n.reconcile([e], []);
    const [req] = await http.waitFor(1, "/plain");
    expect(req.headers["x-lifeboat-signature"]).toBeUndefined();
    const body = JSON.parse(req.body);
    expect(body).not.toHaveProperty("setId");
    expect(body).toMatchObject({ alert: "LifeboatWalTooLarge", severity: "warning", state: "firing", node: "k3s-server" });
  });

  it("Slack, Discord, ntfy and Gotify each get their own shape", async () => {
    const n = notifier({
      LIFEBOAT_SLACK_WEBHOOK_URL: `${http.url}/services/T000/B000/slacksecretpath`,
      LIFEBOAT_DISCORD_WEBHOOK_URL: `${http.url}/api/webhooks/123/discordsecret`,
      LIFEBOAT_NTFY_URL: `${http.url}/lifeboat-alerts`,
      LIFEBOAT_NTFY_TOKEN: "tk_ntfy_secret",
      LIFEBOAT_GOTIFY_URL: `${http.url}/gotify`,
      LIFEBOAT_GOTIFY_TOKEN: "gotify-app-token",
    });
    storeEpisode(episode());
    n.reconcile([episode()], []);
    await n.dispatcher.idle();
    const slack = JSON.parse((await http.waitFor(1, "/services/T000/B000/slacksecretpath"))[0].body);
    expect(slack.text).toContain("*FIRING · critical · Backups grew (LifeboatBackupGrowth)*");
    expect(slack.text).toContain("<https://lifeboat.example.com/backups/seed-2024-12-18_00-00-00|Open in Lifeboat>");
    const discord = JSON.parse((await http.waitFor(1, "/api/webhooks/123/discordsecret"))[0].body);
    expect(discord.embeds[0]).toMatchObject({ title: "FIRING · critical · Backups grew (LifeboatBackupGrowth)", color: 0xd92d20 });
    expect(discord.embeds[0].description).toContain("Backup set: seed-2024-12-18_00-00-00");
    const [ntfy] = await http.waitFor(1, "/");
    expect(ntfy.headers.authorization).toBe("Bearer tk_ntfy_secret");
    expect(JSON.parse(ntfy.body)).toMatchObject({
      topic: "lifeboat-alerts",
      priority: 5,
      click: "https://lifeboat.example.com/backups/seed-2024-12-18_00-00-00",
    });
    const [gotify] = await http.waitFor(1, "/gotify/message");
    expect(gotify.headers["x-gotify-key"]).toBe("gotify-app-token");
    expect(gotify.path).toBe("/gotify/message"); // the token is not in the URL
    expect(JSON.parse(gotify.body)).toMatchObject({
      priority: 8,
      extras: { "client::notification": { click: { url: expect.stringContaining("/backups/") } } },
    });
  });

  it("e-mail over SMTP with a login: the real server receives the mail", async () => {
    const n = notifier({
      LIFEBOAT_SMTP_URL: `smtp://lifeboat:smtp-pass-S3cret@127.0.0.1:${smtp.port}`,
      LIFEBOAT_SMTP_SECURITY: "none",
      LIFEBOAT_SMTP_FROM: "lifeboat@example.com",
      LIFEBOAT_SMTP_TO: "ops@example.com, oncall@example.com",
    });
    storeEpisode(episode());
    n.reconcile([episode()], []);
    const [mail] = await smtp.waitFor(1);
    expect(mail.user).toBe("lifeboat");
    expect(mail.from).toBe("lifeboat@example.com");
    expect(mail.to).toEqual(["ops@example.com", "oncall@example.com"]);
    expect(subject(mail.raw)).toBe("[Lifeboat] FIRING · critical · Backups grew (LifeboatBackupGrowth)");
    expect(mail.raw).toContain("https://lifeboat.example.com/backups/seed-2024-12-18_00-00-00");
    await n.dispatcher.idle();
    expect(n.dispatcher.deliveries({ episodeIds: [1] })[0]).toMatchObject({ outcome: "delivered", status: 250, channelType: "email" });
    expect(logged).not.toContain("smtp-pass-S3cret");
  });

  it("a wrong SMTP password is given up at once, with the server's code and no password in the log", async () => {
    const n = notifier({
      LIFEBOAT_SMTP_URL: `smtp://lifeboat:wrong-Passw0rd@127.0.0.1:${smtp.port}`,
      LIFEBOAT_SMTP_SECURITY: "none",
      LIFEBOAT_SMTP_FROM: "lifeboat@example.com",
      LIFEBOAT_SMTP_TO: "ops@example.com",
    });
    const r = await n.test("env:email");
    expect(r).toMatchObject({ ok: false, status: 535 });
    expect(r.detail).toMatch(/refused the login/);
    expect(logged).not.toContain("wrong-Passw0rd");
    expect(smtp.mails).toHaveLength(0);
  });

  it("the dead-man's switch is pinged after a backup and a drill, and gets no alerts", async () => {
    const n = notifier({ LIFEBOAT_PING_URL: `${http.url}/ping/5f1b2c3d-uuid`, LIFEBOAT_WEBHOOK_URL: `${http.url}/hook` });
    storeEpisode(episode());
    n.reconcile([episode()], []);
    n.heartbeat("backup", "lifeboat-2024-12-18_00-00-00");
    n.heartbeat("drill", "lifeboat-2024-12-18_00-00-00");
    await n.dispatcher.idle();
    const pings = await http.waitFor(2, "/ping/5f1b2c3d-uuid");
    expect(pings.map((p) => p.method)).toEqual(["GET", "GET"]);
    expect(http.requests.filter((r) => r.path === "/hook")).toHaveLength(1); // the alert, not the heartbeats
  });
});

describe("delivery", () => {
  it("a failing receiver is retried with back-off and does not hold up the others", async () => {
    http.respond("/flaky", [503, 503, 200]);
    http.respond("/stuck", ["hang"]);
    const n = notifier({}, [150, 300, 300]);
    const flaky = n.create({ label: "Flaky", settings: { type: "webhook", url: `${http.url}/flaky` } });
    const stuck = n.create({ label: "Stuck", settings: { type: "webhook", url: `${http.url}/stuck` } });
    n.create({ label: "Good", settings: { type: "slack", url: `${http.url}/good/secretpath` } });
    storeEpisode(episode());
    const t0 = Date.now();
    n.reconcile([episode()], []);
    const [good] = await http.waitFor(1, "/good/secretpath");
    expect(good.at - t0).toBeLessThan(1000); // not behind the hanging receiver (its timeout is 1.5 s)
    const attempts = await http.waitFor(3, "/flaky");
    expect(attempts[1].at - attempts[0].at).toBeGreaterThanOrEqual(140);
    expect(attempts[2].at - attempts[1].at).toBeGreaterThanOrEqual(290);
    // Wait out the hanging receiver's retries (4 attempts × 1.5 s timeout + back-off).
    for (const deadline = Date.now() + 20_000; n.dispatcher.pending() > 0 && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 50));
    await n.dispatcher.idle();
    const log = n.dispatcher.deliveries({ episodeIds: [1] }).reverse();
    expect(log.filter((d) => d.channelId === flaky.id).map((d) => `${d.outcome} ${d.status} #${d.attempt}`)).toEqual([
      "retrying 503 #1",
      "retrying 503 #2",
      "delivered 200 #3",
    ]);
    // The hanging one timed out each time and was given up after its last attempt.
    expect(log.filter((d) => d.channelId === stuck.id).map((d) => `${d.outcome} ${d.detail}`)).toEqual([
      "retrying no answer in time",
      "retrying no answer in time",
      "retrying no answer in time",
      "failed no answer in time",
    ]);
    expect(n.dispatcher.pending()).toBe(0);
    expect(logged).toContain('"outcome":"retrying"');
    expect(logged).not.toContain("secretpath");
  }, 30_000);

  it("disabling a channel drops its queued retries", async () => {
    http.respond("/down", [503]);
    const n = notifier({}, [200, 200, 200]);
    const c = n.create({ label: "Down", settings: { type: "webhook", url: `${http.url}/down` } });
    storeEpisode(episode());
    n.reconcile([episode()], []);
    await http.waitFor(1, "/down");
    n.update(c.id, { label: "Down", enabled: false, settings: { type: "webhook", url: "" } });
    await new Promise((r) => setTimeout(r, 900)); // past every retry's back-off
    await n.dispatcher.idle();
    expect(http.requests.filter((r) => r.path === "/down")).toHaveLength(1);
    expect(n.dispatcher.pending()).toBe(0);
  });

  it("a receiver answering with a huge body: the answer is not downloaded", async () => {
    const TOTAL = 64 * 2 ** 20;
    const chunk = Buffer.alloc(2 ** 16, 97);
    let written = 0;
    const big = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      const pump = () => {
        while (written < TOTAL) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        res.end();
      };
      pump();
    });
    await new Promise<void>((r) => big.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(big.address() as AddressInfo).port}/big`;
      const r = await attempt(
        { id: "c", type: "webhook", label: "Big", enabled: true, minSeverity: "warning", origin: "settings", settings: { type: "webhook", url } },
        { kind: "test", summary: "t", url: "https://lifeboat.example.com/alerts", at: "2024-12-18T08:00:00.000Z" },
        10_000,
      );
      expect(r).toMatchObject({ ok: true, status: 200 });
      await new Promise((res) => setTimeout(res, 200));
      expect(written).toBeLessThan(TOTAL / 4);
    } finally {
      big.closeAllConnections();
      big.close();
    }
  });

  it("a 404 is given up at once (the URL is wrong; trying again cannot help)", async () => {
    http.respond("/gone", [404]);
    const n = notifier({ LIFEBOAT_WEBHOOK_URL: `${http.url}/gone` });
    storeEpisode(episode());
    n.reconcile([episode()], []);
    await http.waitFor(1, "/gone");
    await n.dispatcher.idle();
    expect(n.dispatcher.deliveries({ episodeIds: [1] }).map((d) => `${d.outcome} ${d.status}`)).toEqual(["failed 404"]);
  });

  it("no storm: reconciling the same firing alert again sends nothing; a channel added later gets it once", async () => {
    const n = notifier({ LIFEBOAT_WEBHOOK_URL: `${http.url}/hook` });
    storeEpisode(episode());
    for (let i = 0; i < 5; i++) n.reconcile([episode()], []);
    await n.dispatcher.idle();
    expect(http.requests.filter((r) => r.path === "/hook")).toHaveLength(1);
    n.create({ label: "Later", settings: { type: "discord", url: `${http.url}/later/hooksecret` } });
    n.reconcile([episode()], []);
    n.reconcile([episode()], []);
    await n.dispatcher.idle();
    expect(http.requests.filter((r) => r.path === "/later/hooksecret")).toHaveLength(1);
    expect(http.requests.filter((r) => r.path === "/hook")).toHaveLength(1);
  });

  it("a channel that takes only critical alerts skips warnings", async () => {
    const n = notifier();
    n.create({ label: "Pager", minSeverity: "critical", settings: { type: "webhook", url: `${http.url}/pager` } });
    const warn = episode({ id: 2, key: "LifeboatWalTooLarge", name: "LifeboatWalTooLarge", severity: "warning" });
    storeEpisode(warn);
    storeEpisode(episode());
    n.reconcile([warn, episode()], []);
    await n.dispatcher.idle();
    expect(http.requests.filter((r) => r.path === "/pager").map((r) => JSON.parse(r.body).alert)).toEqual(["LifeboatBackupGrowth"]);
  });
});

describe("escalation", () => {
  it("a critical-only channel gets exactly one message when a warning escalates, and later its resolve", async () => {
    const n = notifier();
    n.create({ label: "All", settings: { type: "webhook", url: `${http.url}/all` } });
    n.create({ label: "Pager", minSeverity: "critical", settings: { type: "webhook", url: `${http.url}/pager` } });
    const warn = episode({ severity: "warning" });
    storeEpisode(warn);
    n.reconcile([warn], []);
    await n.dispatcher.idle();
    // As AlertService.run() does: escalated(), then reconcile() with the open episodes.
    const crit = episode({ severity: "critical" });
    storeEpisode(crit);
    n.escalated(crit, "warning");
    n.reconcile([crit], []);
    n.reconcile([crit], []);
    await n.dispatcher.idle();
    const bodies = (p: string) => http.requests.filter((r) => r.path === p).map((r) => JSON.parse(r.body) as Record<string, unknown>);
    expect(bodies("/pager").map((b) => `${b.state} ${b.severity} ${b.escalatedFrom}`)).toEqual(["firing critical warning"]);
    expect(bodies("/all").map((b) => `${b.state} ${b.severity} ${b.escalatedFrom}`)).toEqual(["firing warning undefined", "firing critical warning"]);
    const done = episode({ severity: "critical", resolvedAt: "2024-12-19T08:00:00.000Z" });
    storeEpisode(done);
    n.reconcile([], [done]);
    await n.dispatcher.idle();
    expect(bodies("/pager").map((b) => b.state)).toEqual(["firing", "resolved"]);
    expect(bodies("/all").map((b) => b.state)).toEqual(["firing", "firing", "resolved"]);
  });
});

describe("secrets", () => {
  it("the browser sees hints, never the secret; an empty secret on update keeps the stored one", async () => {
    const n = notifier();
    const c = n.create({ label: "Hook", settings: { type: "webhook", url: `${http.url}/hooks/abcdefghijklmnop`, secret: SECRET } });
    const shown = JSON.stringify(n.settings());
    expect(shown).not.toContain("abcdefghijklmnop");
    expect(shown).not.toContain(SECRET);
    expect(c.target).toBe(`${http.url}/…mnop`);
    expect(c.secrets).toEqual({ url: true, secret: true });
    n.update(c.id, { label: "Hook renamed", settings: { type: "webhook", url: "", secret: "" } });
    const r = await n.test(c.id);
    expect(r.ok).toBe(true);
    const [req] = await http.waitFor(1, "/hooks/abcdefghijklmnop");
    expect(req.headers["x-lifeboat-signature"]).toBe("sha256=" + createHmac("sha256", SECRET).update(req.body).digest("hex"));
    expect(JSON.parse(req.body)).toMatchObject({ alert: "LifeboatTest", test: true });
  });

  it("a webhook URL with user info is sent with Authorization: Basic, never showing the password", async () => {
    const u = new URL(http.url);
    const n = notifier({ LIFEBOAT_WEBHOOK_URL: `http://alert%40ops:hunter2-S3cret@${u.host}/basic/hook` });
    const r = await n.test("env:webhook");
    expect(r).toMatchObject({ ok: true, status: 200 });
    storeEpisode(episode());
    n.reconcile([episode()], []);
    await n.dispatcher.idle();
    const reqs = await http.waitFor(2, "/basic/hook");
    for (const req of reqs) expect(req.headers.authorization).toBe(`Basic ${Buffer.from("alert@ops:hunter2-S3cret").toString("base64")}`);
    expect(n.dispatcher.deliveries({ episodeIds: [1] }).map((d) => d.outcome)).toEqual(["delivered"]);
    expect(JSON.stringify(n.settings())).not.toContain("hunter2");
    expect(logged).not.toContain("hunter2");
  });

  it("Gotify's URL (not a secret) is shown without its user info, and an update with it as shown keeps it", async () => {
    const u = new URL(http.url);
    const n = notifier();
    const c = n.create({ label: "Gotify", settings: { type: "gotify", url: `http://gu:gotify-Pa55@${u.host}/g`, token: "app-token" } });
    expect(JSON.stringify(n.settings())).not.toContain("gotify-Pa55");
    expect(c.fields.url).toBe(`http://${u.host}/g`);
    n.update(c.id, { label: "Gotify", settings: { type: "gotify", url: String(c.fields.url), token: "" } });
    expect(await n.test(c.id)).toMatchObject({ ok: true });
    const [req] = await http.waitFor(1, "/g/message");
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from("gu:gotify-Pa55").toString("base64")}`);
    expect(req.headers["x-gotify-key"]).toBe("app-token");
  });

  it("a request that cannot be sent at all fails at once with the reason, not as a retried no answer", async () => {
    const n = notifier({}, [50, 50, 50]);
    // A header value fetch refuses (not Latin-1): the same every time, nothing to retry.
    const c = n.create({ label: "Bad token", settings: { type: "gotify", url: `${http.url}/badtoken`, token: "tök€n-secret" } });
    storeEpisode(episode());
    n.reconcile([episode()], []);
    await new Promise((r) => setTimeout(r, 300));
    await n.dispatcher.idle();
    const log = n.dispatcher.deliveries({ channelId: c.id });
    expect(log.map((d) => `${d.outcome} #${d.attempt}`)).toEqual(["failed #1"]);
    expect(log[0].detail).toMatch(/^cannot send: /);
    expect(log[0].detail).not.toContain("secret");
    const t = await n.test(c.id);
    expect(t).toMatchObject({ ok: false, status: null });
    expect(t.detail).toMatch(/^cannot send: /);
    expect(http.requests.filter((r) => r.path.startsWith("/badtoken"))).toHaveLength(0);
  });

  it("an environment channel cannot be changed from the page; a bad variable is named", () => {
    const n = notifier({ LIFEBOAT_WEBHOOK_URL: `${http.url}/hook` });
    expect(() => n.remove("env:webhook")).toThrow(/comes from the environment/);
    expect(() => envChannels({ LIFEBOAT_SLACK_WEBHOOK_URL: "hooks.slack.com/x" })).toThrow(/LIFEBOAT_SLACK_WEBHOOK_URL/);
    expect(() => envChannels({ LIFEBOAT_SMTP_URL: "smtp://h:25" })).toThrow(/LIFEBOAT_SMTP_FROM and LIFEBOAT_SMTP_TO/);
  });
});
