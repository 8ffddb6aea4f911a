import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { test, expect, type Page, type TestInfo } from "@playwright/test";
import { startEmbeddedS3, type EmbeddedS3 } from "../lib/storage/embedded-s3";
import { integrity, treeState, type TestServer } from "../agent/testing/restore-fixtures";
import { kineRowDigests, kineRowPages, overwritePage } from "../agent/testing/corrupt";
import { agentEnv, backupWithCli, makeServer, passphraseFile, runK3s, startAgent, type RunningAgent } from "./support/agent";
import { startDashboard, type RunningDashboard } from "./support/dashboard";
import { signIn } from "./support/auth";
import { startTestCluster, type TestCluster } from "./support/kube";
import { restartControlPlane } from "../lib/kube/simulator/scenarios";
import { keepScreenshot } from "./support/screenshot";
import { RestoreWizardPage } from "./pages/restore-wizard-page";

// The restore wizard's other ways (issue 11): recovering the live database when it is damaged —
// the ladder on the target, the kine check's repaired and dropped rows, the recovered database
// restored and checked on disk, the nodes coming back after the restart — and going back, checking
// again and retrying after a failure. A real agent process on loopback driving the fake k3s, a real
// s3rver, the built dashboard, the HTTPS test Kubernetes API, Chromium.

const KEY = "e2e-recovery-key";
const SECRET = "e2e-recovery-secret-52";
const PASSPHRASE = "e2e recovery passphrase";

let work: string;
let s3: EmbeddedS3;
let srv: TestServer;
let pass: string;
let agent: RunningAgent;
let cluster: TestCluster;
let dash: RunningDashboard;
let setId = "";
let intact: Map<number, string>;
/** A row the kine check can put back (both its copies survive), and one it must drop (its only copy is damaged). */
let repairable: number;
let unrepairable: number;
let compactRow: number;

test.describe.configure({ mode: "serial" });

async function shot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  await keepScreenshot(page, testInfo, `recovery-${name}`);
}

test.beforeAll(async ({}, testInfo) => {
  testInfo.setTimeout(300_000);
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-e2e-recovery-"));
  s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["backups"], accessKeyId: KEY, secretAccessKey: SECRET });
  const store = {
    AWS_S3_ENDPOINT: s3.endpoint,
    AWS_S3_BUCKET: "backups",
    AWS_S3_PATH: "k3s",
    AWS_ACCESS_KEY_ID: KEY,
    AWS_SECRET_ACCESS_KEY: SECRET,
    AWS_DEFAULT_REGION: "us-east-1",
  };
  pass = passphraseFile(path.join(work, "secrets"), "passphrase", PASSPHRASE);
  srv = makeServer(path.join(work, "server"), { seed: 61, marker: "marker-A" });
  const env = agentEnv(srv, store, pass, { LIFEBOAT_OWNER: "1000:1000" });
  setId = await backupWithCli(env);

  // Then the database breaks while k3s is down: two overflow pages overwritten with noise. The copy
  // before the damage is what kine wrote: the oracle for what the recovery gives back.
  const original = path.join(work, "intact.db");
  const live = new Database(srv.dbPath);
  live.pragma("wal_checkpoint(TRUNCATE)"); // every row in the file itself, where the damage lands
  live.close();
  copyFileSync(srv.dbPath, original);
  intact = kineRowDigests(original);
  const pages = kineRowPages(original);
  const db = new Database(original, { readonly: true });
  const rows = db.prepare("SELECT id, name, prev_revision AS prev FROM kine").all() as { id: number; name: string; prev: number }[];
  const pageSize = db.pragma("page_size", { simple: true }) as number;
  db.close();
  const has = new Set(rows.map((r) => r.id));
  compactRow = rows.find((r) => r.name === "compact_rev_key")!.id;
  const succ = new Set(rows.filter((r) => r.prev && has.has(r.prev)).map((r) => r.prev));
  const overflowing = rows.filter((r) => (pages.get(r.id)?.length ?? 0) >= 2 && r.name !== "compact_rev_key");
  repairable = overflowing.find((r) => succ.has(r.id) && (r.prev === 0 || has.has(r.prev)))!.id;
  unrepairable = overflowing.find((r) => !succ.has(r.id) && r.prev === 0)!.id;
  for (const id of [repairable, unrepairable]) overwritePage(srv.dbPath, pages.get(id)!.at(-1)!, pageSize, "random", id);

  agent = await startAgent(env);
  cluster = await startTestCluster();
  dash = await startDashboard({
    env: { ...store, ...agent.dashboardEnv, KUBECONFIG: cluster.env.KUBECONFIG },
  });
  // The set's restore drill runs first (a datastore job): let it finish before the wizard asks for one.
  await expect
    .poll(
      async () =>
        (
          (await (await fetch(`${dash.url}/api/backups`, { headers: { authorization: `Bearer ${dash.tokens.viewer}` } })).json()) as {
            sets: { verification?: { state: string } }[];
          }
        ).sets[0]?.verification?.state,
      {
        timeout: 120_000,
      },
    )
    .toBe("verified");
});

test.beforeEach(async ({ page }) => signIn(page, dash));

test.afterEach(({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) {
    console.log(`--- dashboard log (tail) ---\n${(dash?.output() ?? "").slice(-4000)}\n--- agent log (tail) ---\n${(agent?.output() ?? "").slice(-4000)}`);
  }
});

test.afterAll(async () => {
  await dash?.stop();
  await agent?.stop();
  await cluster?.stop();
  if (srv) runK3s(srv, "stop");
  await s3?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test("recover the live database: the ladder, the kine check's repaired and dropped rows, restored, nodes back", async ({ page }, testInfo) => {
  testInfo.setTimeout(300_000);
  const wizard = new RestoreWizardPage(page, dash.url);
  await wizard.start();
  await wizard.checkConfiguredAgent();
  await expect(wizard.health).toContainText("Agent reachable");
  await expect(wizard.health).toContainText("k3s is inactive");
  // Check again asks the agent a second time (its answer carries the time it checked); for the
  // configured agent that is a new check of the target.
  const first = await wizard.health.textContent();
  await page.waitForTimeout(1100);
  await wizard.checkAgain();
  await expect(wizard.health).not.toHaveText(first!);
  await shot(page, testInfo, "step1-damaged");
  await wizard.acceptTarget();

  await expect(page.getByText("Or: recover the live database")).toBeVisible();
  await wizard.recoverLiveDatabase();
  const report = wizard.recoveryReport;
  await expect(report).toContainText("Check rows against kine's copies");
  await expect(report.getByTestId(/^soundness-/).first()).toContainText(/kine check: [\d,]+ rows against kine's own copies — [\d,]+ confirmed/);
  const changed = report.getByTestId("kine-check-rows");
  await expect(changed).toContainText("Rows the kine check changed: 1 repaired, 1 dropped");
  await changed.locator("summary").click();
  await expect(changed).toContainText(
    new RegExp(`dropped /registry/\\S+ @ ${unrepairable}: its value is damaged in the file and kine keeps no other copy of it`),
  );
  await expect(changed).toContainText(new RegExp(`repaired /registry/\\S+ @ ${repairable}: (value|old_value|value and old_value) from revision \\d+`));
  await expect(report).toContainText(
    /The kine check put back 1 damaged row from kine's own copies and dropped 1 it could not trust \(listed in the report\)\./,
  );
  await shot(page, testInfo, "step2-recovered");

  await wizard.chooseRecovered();
  await expect(page.getByTestId("backup-preview")).toContainText(/The database recovered by the \w+ rung/);
  // Back to the choice, and forward again: the recovery is still there, not run twice.
  await wizard.back("which");
  await expect(wizard.recoveryReport).toBeVisible();
  await wizard.chooseRecovered();
  await wizard.stage();
  await wizard.waitStaged();
  await expect(wizard.failure).toHaveCount(0);
  await expect(page.getByTestId("staged-verification")).toContainText("integrity_check ok");
  await wizard.continueToConfirm();

  // k3s restarts on the recovered datastore: every node is Unknown until its kubelet posts again.
  restartControlPlane(cluster.api.cluster, { readyAfterMs: null });
  await wizard.confirm(hostname());
  await wizard.expectStep("After", 120_000);
  await expect(wizard.afterChecks).toContainText("quick_check of the live database: ok");
  await expect(wizard.nodesCheck).toHaveAttribute("data-state", "waiting", { timeout: 30_000 });
  await expect(wizard.nodesCheck).toContainText("Waiting for pi-1, pi-2, pi-3 to be Ready.");
  await expect(wizard.nodesCheck).toContainText("pi-1 (server): Unknown");
  await shot(page, testInfo, "step7-nodes-waiting");
  cluster.api.cluster.setNodeReady("pi-1", true);
  await expect(wizard.nodesCheck).toContainText("Waiting for pi-2, pi-3 to be Ready.", { timeout: 30_000 });
  cluster.api.cluster.setNodeReady("pi-2", true);
  cluster.api.cluster.setNodeReady("pi-3", true);
  await expect(wizard.nodesCheck).toHaveAttribute("data-state", "ready", { timeout: 30_000 });
  await expect(wizard.nodesCheck).toContainText("All 3 nodes are Ready.");
  await shot(page, testInfo, "step7-nodes-ready");
  // Check again asks the agent and the Kubernetes API once more.
  await wizard.checkAgain();
  await expect(wizard.nodesCheck).toHaveAttribute("data-state", "ready", { timeout: 30_000 });
  await wizard.keep();

  // On disk: the repaired row exactly as kine wrote it, the dropped one gone, the database whole.
  const live = kineRowDigests(srv.dbPath);
  expect(live.get(repairable)).toBe(intact.get(repairable));
  expect(live.has(unrepairable)).toBe(false);
  // (compact_rev_key is the one row kine rewrites: k3s's compaction has moved it on since.)
  for (const [id, digest] of live) if (intact.has(id) && id !== compactRow) expect(digest, `row ${id}`).toBe(intact.get(id));
  expect(integrity(srv.dbPath)).toBe("ok");
});

test("back, check again and retry: staging fails on a wrong passphrase, is retried once it is fixed, then the target is left as it was", async ({
  page,
}, testInfo) => {
  testInfo.setTimeout(240_000);
  const wizard = new RestoreWizardPage(page, dash.url);
  await wizard.start();
  await wizard.checkConfiguredAgent();
  await wizard.acceptTarget();
  await wizard.back("where");
  await wizard.checkAgain();
  await wizard.acceptTarget();
  await wizard.choose(setId);
  await wizard.back("which");
  await wizard.choose(setId);

  const before = treeState(srv.serverDir, { skipDbContent: true });
  writeFileSync(pass, "not the passphrase\n");
  await wizard.stage();
  await wizard.waitStaged();
  await expect(wizard.failure).toContainText("Staging failed");
  await expect(wizard.failure).toContainText(/passphrase/i);
  await expect(page.getByTestId("target-state")).toContainText("Nothing on the server changed.");
  await shot(page, testInfo, "retry-failed");

  writeFileSync(pass, PASSPHRASE + "\n");
  await wizard.failure.getByRole("button", { name: "Retry" }).click();
  await expect(wizard.failure).toHaveCount(0, { timeout: 30_000 });
  await wizard.waitStaged();
  await expect(page.getByText("Staged and verified — nothing on the target has changed yet")).toBeVisible();
  await shot(page, testInfo, "retry-verified");
  await wizard.back("which");
  await wizard.leave();
  expect(treeState(srv.serverDir, { skipDbContent: true })).toEqual(before);
  const audit = (await (
    await fetch(`${dash.url}/api/audit?prefix=restore.&limit=200`, { headers: { authorization: `Bearer ${dash.tokens.viewer}` } })
  ).json()) as { entries: { action: string; outcome: string }[] };
  const actions = audit.entries.map((e) => `${e.action}:${e.outcome}`);
  expect(actions.filter((a) => a === "restore.target:reachable").length).toBeGreaterThanOrEqual(4);
  for (const a of [
    "restore.recheck:ok",
    "restore.back:ok",
    "restore.stage:failed",
    "restore.stage:retried",
    "restore.verified:ok",
    "restore.abandon:left as is",
    "restore.recovery:ok",
  ])
    expect(actions).toContain(a);
});
