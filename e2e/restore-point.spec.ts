import { mkdtempSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { test, expect } from "@playwright/test";
import { startEmbeddedS3, type EmbeddedS3 } from "../lib/storage/embedded-s3";
import { integrity, type TestServer } from "../agent/testing/restore-fixtures";
import { KINE_INSERT_SQL, openKineDb } from "../agent/kine/schema";
import type { ContinuousStatus } from "../lib/contracts/continuous";
import { agentEnv, makeServer, passphraseFile, runK3s, startAgent, type RunningAgent } from "./support/agent";
import { startDashboard, type RunningDashboard } from "./support/dashboard";
import { signIn } from "./support/auth";
import { keepScreenshot } from "./support/screenshot";
import { RestoreWizardPage } from "./pages/restore-wizard-page";

// A restore to a point in time with the wizard: a real `lifeboat-agent serve` ships the log of a
// server whose kine-like writer runs (fake k3s) to s3rver; a Deployment is created, then deleted; the
// user finds the deletion in the timeline of "Which backup", picks "just before" it, and goes through
// the wizard. Afterwards the Deployment's row is back in the database file on disk.

const KEY = "e2e-point-key";
const SECRET = "e2e-point-secret-16";
const OWNER = { uid: 1000, gid: 1000 };
const WEB = "/registry/deployments/default/web";

let work: string;
let s3: EmbeddedS3;
let srv: TestServer;
let agent: RunningAgent;
let dash: RunningDashboard;
const web = { created: 0, deleted: 0 };

test.describe.configure({ mode: "serial" });

async function api<T>(p: string, init: RequestInit = {}): Promise<T> {
  const r = await fetch(dash.url + p, { ...init, headers: { authorization: `Bearer ${dash.tokens.admin}`, ...init.headers } });
  expect(r.ok, `${p}: ${r.status} ${await r.clone().text()}`).toBe(true);
  return (await r.json()) as T;
}

/** kine's own INSERT beside the writer (busy_timeout waits for its lock); returns the revision. */
function kineWrite(name: string, value: Buffer | null, o: { prev: number; created: boolean; deleted: boolean; createRevision: number }): number {
  const db = openKineDb(srv.dbPath);
  try {
    return Number(db.prepare(KINE_INSERT_SQL).run(name, o.created ? 1 : 0, o.deleted ? 1 : 0, o.createRevision, o.prev, 0, value, o.prev).lastInsertRowid);
  } finally {
    db.close();
  }
}

/** The newest row of `name` in the database file: its revision and whether it is a deletion. */
function newestRow(dbPath: string, name: string): { id: number; deleted: number } | undefined {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT id, deleted FROM kine WHERE name = ? ORDER BY id DESC LIMIT 1").get(name) as { id: number; deleted: number } | undefined;
  } finally {
    db.close();
  }
}

async function shippedUpTo(revision: number): Promise<void> {
  await expect
    .poll(async () => (await api<ContinuousStatus>("/api/agent/continuous")).shippedRevision ?? 0, { timeout: 60_000, intervals: [1000] })
    .toBeGreaterThanOrEqual(revision);
}

test.beforeAll(async ({}, testInfo) => {
  testInfo.setTimeout(300_000);
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-e2e-point-"));
  s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["backups"], accessKeyId: KEY, secretAccessKey: SECRET });
  const store = {
    AWS_S3_ENDPOINT: s3.endpoint,
    AWS_S3_BUCKET: "backups",
    AWS_S3_PATH: "k3s",
    AWS_ACCESS_KEY_ID: KEY,
    AWS_SECRET_ACCESS_KEY: SECRET,
    AWS_DEFAULT_REGION: "us-east-1",
  };
  srv = makeServer(path.join(work, "server"), { seed: 61, marker: "marker-P" });
  runK3s(srv, "start");
  const pass = passphraseFile(path.join(work, "secrets"), "passphrase", "e2e point passphrase");
  agent = await startAgent(agentEnv(srv, store, pass, { LIFEBOAT_OWNER: `${OWNER.uid}:${OWNER.gid}`, LIFEBOAT_LOG_INTERVAL_SECONDS: "2" }));
  dash = await startDashboard({ env: { ...store, ...agent.dashboardEnv, LIFEBOAT_REFRESH_SECONDS: "5" } });

  // The first backup `serve` takes is the log's first base; then the Deployment's life, each write in its own segment.
  await api("/api/agent/backups", { method: "POST" });
  await expect.poll(async () => (await api<ContinuousStatus>("/api/agent/continuous")).segments, { timeout: 120_000, intervals: [1000] }).toBeGreaterThan(0);
  web.created = kineWrite(WEB, Buffer.from('{"kind":"Deployment","metadata":{"name":"web","namespace":"default"}}'), {
    prev: 0,
    created: true,
    deleted: false,
    createRevision: 0,
  });
  await shippedUpTo(web.created);
  web.deleted = kineWrite(WEB, null, { prev: web.created, created: false, deleted: true, createRevision: web.created });
  await shippedUpTo(web.deleted);
  expect(newestRow(srv.dbPath, WEB)?.deleted).toBe(1);
});

test.beforeEach(async ({ page }) => signIn(page, dash));

test.afterEach(({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) {
    void testInfo.attach("dashboard.log", { body: dash?.output() ?? "", contentType: "text/plain" });
    void testInfo.attach("agent.log", { body: agent?.output() ?? "", contentType: "text/plain" });
  }
});

test.afterAll(async () => {
  await dash?.stop();
  await agent?.stop();
  if (srv) runK3s(srv, "stop");
  await s3?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test("restore to just before a Deployment was deleted: pick it in the timeline, stage, confirm; the Deployment is back", async ({ page }, testInfo) => {
  testInfo.setTimeout(300_000);
  const wizard = new RestoreWizardPage(page, dash.url);
  await wizard.start();
  await wizard.checkConfiguredAgent();
  await expect(wizard.health).toContainText("Agent reachable");
  await wizard.acceptTarget();

  const timeline = page.getByTestId("point-timeline");
  await expect(timeline).toContainText(/the log reaches revision [\d,]+/, { timeout: 30_000 });
  await expect(timeline.getByTestId("timeline-change").filter({ hasText: "deployments/default/web" })).toHaveCount(2);
  await keepScreenshot(page, testInfo, "restore-point-timeline");
  await timeline.getByLabel("Filter by name").fill("deployments/default/web");
  await expect(timeline.getByTestId("timeline-point")).toHaveCount(2);
  const deletion = timeline.getByTestId("timeline-change").filter({ hasText: "deleted" });
  await expect(deletion).toContainText(`rev ${web.deleted.toLocaleString("en-US")}`);
  await keepScreenshot(page, testInfo, "restore-point-timeline-filtered");
  await deletion.getByRole("button", { name: `Restore to just before deployments/default/web was deleted (revision ${web.deleted - 1})` }).click();
  await wizard.expectStep("Preview");

  const point = page.getByTestId("point-preview");
  await expect(point).toContainText(`A point in time: revision ${(web.deleted - 1).toLocaleString("en-US")}`);
  await expect(point).toContainText("just before deployments/default/web was deleted");
  await keepScreenshot(page, testInfo, "restore-point-preview");

  await wizard.stage();
  await wizard.waitStaged();
  await expect(wizard.failure).toHaveCount(0);
  await expect(page.getByTestId("staged-point")).toContainText(`to revision ${(web.deleted - 1).toLocaleString("en-US")}`);
  // What the point loses: the live database is ahead of it (the writer kept writing).
  await expect(wizard.diff).toContainText(new RegExp(`Restoring to .* \\(revision ${web.deleted - 1}\\) loses`));
  await keepScreenshot(page, testInfo, "restore-point-staged");
  await wizard.continueToConfirm();
  await wizard.confirm(hostname());
  await wizard.expectStep("After", 120_000);
  await expect(wizard.afterChecks).toContainText("quick_check of the live database: ok");
  await wizard.keep();
  await keepScreenshot(page, testInfo, "restore-point-done");

  // On disk: the Deployment's row is back (its creation, not the deletion), the database is sound.
  const row = newestRow(srv.dbPath, WEB);
  expect(row).toEqual({ id: web.created, deleted: 0 });
  expect(integrity(srv.dbPath)).toBe("ok");
});
