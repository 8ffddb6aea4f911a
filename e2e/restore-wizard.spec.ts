import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { test, expect, type Page, type TestInfo } from "@playwright/test";
import { startEmbeddedS3, type EmbeddedS3 } from "../lib/storage/embedded-s3";
import { S3BackupStore } from "../lib/storage";
import { addMarker, hasMarker, integrity, treeState, type TestServer } from "../agent/testing/restore-fixtures";
import { agentEnv, backupWithCli, makeServer, passphraseFile, runK3s, startAgent, type RunningAgent } from "./support/agent";
import { startDashboard, type RunningDashboard } from "./support/dashboard";
import { signIn } from "./support/auth";
import { startTestCluster, type TestCluster } from "./support/kube";
import { freePort } from "./support/ports";
import { keepScreenshot } from "./support/screenshot";
import { expectFitsPhone } from "./support/layout";
import { BackupsPage } from "./pages/backups-page";
import { RestoreWizardPage } from "./pages/restore-wizard-page";

// The master-restore wizard end to end: a real agent process on loopback driving a fake k3s (a real
// kine-like writer process), a real s3rver holding Lifeboat sets made by `lifeboat-agent backup`, the
// dashboard built and started, and Chromium clicking through. Files are checked on disk afterwards.

const KEY = "e2e-restore-key";
const SECRET = "e2e-restore-secret-71";
const OWNER = { uid: 1000, gid: 1000 }; // tests run as root: a non-root owner proves the chown
const BAD_SET = "seed-2020-01-01_00-00-00";

let work: string;
let s3: EmbeddedS3;
let srv: TestServer; // the cluster's server: backed up, then restored and rolled back
let fresh: TestServer; // a "new machine" whose agent has the wrong passphrase
let agent: RunningAgent;
let freshAgent: RunningAgent;
let cluster: TestCluster;
let dash: RunningDashboard;
let dashEnv: Record<string, string>;
let set1 = "";
let set2 = "";
const started: TestServer[] = [];

test.describe.configure({ mode: "serial" });

/** Keeps a screenshot as a test artifact (test-results/screenshots/). */
async function shot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  await keepScreenshot(page, testInfo, `restore-${name}`);
}

const ownerOf = (p: string) => {
  const s = statSync(p);
  return { uid: s.uid, gid: s.gid, mode: (s.mode & 0o777).toString(8) };
};

async function api<T>(p: string): Promise<T> {
  const r = await fetch(dash.url + p, { headers: { authorization: `Bearer ${dash.tokens.admin}` } });
  expect(r.ok, `${p}: ${r.status}`).toBe(true);
  return (await r.json()) as T;
}

test.beforeAll(async ({}, testInfo) => {
  testInfo.setTimeout(300_000);
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-e2e-restore-"));
  s3 = await startEmbeddedS3({ directory: path.join(work, "s3"), buckets: ["backups"], accessKeyId: KEY, secretAccessKey: SECRET });
  const store = {
    AWS_S3_ENDPOINT: s3.endpoint,
    AWS_S3_BUCKET: "backups",
    AWS_S3_PATH: "k3s",
    AWS_ACCESS_KEY_ID: KEY,
    AWS_SECRET_ACCESS_KEY: SECRET,
    AWS_DEFAULT_REGION: "us-east-1",
  };
  const pass = passphraseFile(path.join(work, "secrets"), "passphrase", "e2e restore passphrase");
  const wrong = passphraseFile(path.join(work, "secrets"), "wrong-passphrase", "not the passphrase");

  // The history: two Lifeboat sets from the agent's backup pipeline (set 1: marker A; set 2: A and B),
  // then marker C is written, so the live database holds something no backup has.
  srv = makeServer(path.join(work, "server"), { seed: 41, marker: "marker-A" });
  // Continuous protection off: a `serve` with it on would take set 2 as its log's first base
  // (base-hook.ts); this history is one of whole sets only (restore-point.spec.ts has the log).
  const env = agentEnv(srv, store, pass, { LIFEBOAT_OWNER: `${OWNER.uid}:${OWNER.gid}`, LIFEBOAT_LOG_INTERVAL_SECONDS: "0" });
  set1 = await backupWithCli(env);
  addMarker(srv.dbPath, "marker-B");
  await new Promise((r) => setTimeout(r, 1100)); // set ids are timestamps (seconds)
  set2 = await backupWithCli(env);
  addMarker(srv.dbPath, "marker-C");
  // A seed-named object that is no OpenPGP message (a broken upload): its restore drill must fail.
  await new S3BackupStore({ endpoint: s3.endpoint, bucket: "backups", prefix: "k3s", accessKeyId: KEY, secretAccessKey: SECRET, region: "us-east-1" }).put(
    "state_2020-01-01_00-00-00.db.gpg",
    Readable.from([Buffer.from("this is not an encrypted backup\n".repeat(100))]),
  );
  runK3s(srv, "start");
  started.push(srv);
  // The stop takes a few seconds, like a real k3s: time to reload the page in the middle of step 6.
  agent = await startAgent({ ...env, LIFEBOAT_K3S_STOP_CMD: `sleep 3; ${srv.k3s.stop}` });

  fresh = makeServer(path.join(work, "new-machine"), { seed: 42, marker: "marker-N" });
  freshAgent = await startAgent(agentEnv(fresh, store, wrong, { LIFEBOAT_OWNER: `${OWNER.uid}:${OWNER.gid}` }));

  cluster = await startTestCluster();
  dashEnv = {
    ...store,
    ...agent.dashboardEnv,
    KUBECONFIG: cluster.env.KUBECONFIG,
    LIFEBOAT_REFRESH_SECONDS: "5",
  };
  dash = await startDashboard({ env: dashEnv });
});

test.beforeEach(async ({ page }) => signIn(page, dash));

test.afterEach(({}, testInfo) => {
  // The servers' logs say why a step failed; attach them to a failing test.
  if (testInfo.status !== testInfo.expectedStatus) {
    void testInfo.attach("dashboard.log", { body: dash?.output() ?? "", contentType: "text/plain" });
    void testInfo.attach("agent.log", { body: agent?.output() ?? "", contentType: "text/plain" });
    console.log(`--- dashboard log (tail) ---\n${(dash?.output() ?? "").slice(-4000)}`);
  }
});

test.afterAll(async () => {
  await dash?.stop();
  await agent?.stop();
  await freshAgent?.stop();
  await cluster?.stop();
  for (const s of started) runK3s(s, "stop");
  await s3?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test("the history shows each set's restore drill: verified, or failed with the reason", async ({ page }, testInfo) => {
  const backups = new BackupsPage(page, dash.url);
  await backups.goto();
  await expect(backups.rows).toHaveCount(3);
  // New sets are drilled automatically, one at a time, and the page follows without a reload.
  await expect(backups.row(set2).getByTestId("verification")).toHaveAttribute("data-state", "verified", { timeout: 90_000 });
  await expect(backups.row(set1).getByTestId("verification")).toHaveAttribute("data-state", "verified", { timeout: 60_000 });
  await expect(backups.row(BAD_SET).getByTestId("verification")).toHaveAttribute("data-state", "failed", { timeout: 60_000 });
  await expect(backups.row(set2).getByText(/✓ verified \d{4}-\d{2}-\d{2}/)).toBeVisible();
  await expect(page.getByTestId("drill-status")).toContainText("2 verified, 1 failed");
  await expect(page.getByTestId("chart-drill-failed")).toHaveCount(1);
  await shot(page, testInfo, "history-drills");

  const catalog = await api<{ sets: { id: string; verification?: { state: string; reason: string | null } }[] }>("/api/backups");
  expect(Object.fromEntries(catalog.sets.map((s) => [s.id, s.verification?.state]))).toEqual({ [set1]: "verified", [set2]: "verified", [BAD_SET]: "failed" });
  expect(catalog.sets.find((s) => s.id === BAD_SET)?.verification?.reason).toMatch(
    /^state_2020-01-01_00-00-00.db.gpg is damaged: .*OpenPGP.*Nothing on the server changed\.$/,
  );

  await page.getByTestId("chart-drill-failed").click();
  await expect(page).toHaveURL(new RegExp(`/backups/${BAD_SET}$`));
  await expect(page.getByTestId("drill-details")).toContainText(/is damaged: .*OpenPGP/);
  await shot(page, testInfo, "detail-drill-failed");

  // Verify now on a verified set runs a new drill and shows its details.
  await page.goto(`${dash.url}/backups/${set1}`);
  const before = await page.getByTestId("drill-details").textContent();
  await page.getByRole("button", { name: "Verify now" }).click();
  await expect(page.getByRole("button", { name: /Queued…|Verifying…/ })).toBeVisible();
  await expect(page.getByRole("button", { name: "Verify now" })).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId("drill-details")).toContainText(/Restore drill passed.*revision [\d,]+/);
  await expect(page.getByTestId("drill-details")).toContainText("asked for");
  expect(await page.getByTestId("drill-details").textContent()).not.toBe(before);
  await shot(page, testInfo, "detail-drill-verified");
});

test("agent down at step 1: a clear message with the URL, what failed and what to check", async ({ page }, testInfo) => {
  const wizard = new RestoreWizardPage(page, dash.url);
  await wizard.start();
  const closed = await freePort();
  await wizard.checkNewMachine(`https://127.0.0.1:${closed}`, "some-token-value-of-32-characters-or-more");
  await expect(wizard.agentProblem).toContainText(`Cannot reach the agent at https://127.0.0.1:${closed}`);
  await expect(wizard.agentProblem).toContainText("connection refused (is the agent running?)");
  await expect(wizard.agentProblem).toContainText("What to check:");
  await expect(wizard.agentProblem).toContainText("lifeboat-agent serve");
  await expect(page.getByRole("button", { name: "Restore onto this machine →" })).toHaveCount(0);
  await shot(page, testInfo, "step1-agent-down");
  await wizard.leave();
});

test("wrong passphrase on a new machine's agent: staging fails with the reason, nothing on the target changes", async ({ page }, testInfo) => {
  const wizard = new RestoreWizardPage(page, dash.url);
  await wizard.start();
  await wizard.checkNewMachine(freshAgent.url, freshAgent.token, freshAgent.fingerprint);
  await expect(wizard.health).toContainText(freshAgent.url);
  await expect(wizard.health).toContainText("k3s is inactive");
  // The token went to the dashboard's server and stays there.
  expect(await page.content()).not.toContain(freshAgent.token);
  expect(JSON.stringify(await api("/api/restore/runs/current"))).not.toContain(freshAgent.token);
  await shot(page, testInfo, "step1-new-machine");
  await wizard.acceptTarget();
  await expect(wizard.candidate(set2)).toBeVisible();
  await wizard.choose(set2);
  const before = treeState(fresh.root);
  await wizard.stage();
  await wizard.waitStaged();
  await expect(wizard.failure).toContainText("Staging failed");
  await expect(wizard.failure).toContainText(/passphrase/i);
  await expect(page.getByTestId("target-state")).toContainText("Nothing on the server changed.");
  await expect(wizard.failure.getByRole("button", { name: "Retry" })).toBeVisible();
  await expect(wizard.failure.getByRole("button", { name: "Choose another backup" })).toBeVisible();
  await shot(page, testInfo, "step4-wrong-passphrase");
  const after = treeState(fresh.root);
  // The agent's own state dir records the failed restore; the server's files are byte for byte the same.
  const server = (t: Record<string, string>) => Object.fromEntries(Object.entries(t).filter(([k]) => k.startsWith("server")));
  expect(server(after)).toEqual(server(before));
  expect(Object.keys(server(before))).toContain(path.join("server", "db", "state.db"));
  await wizard.failure.getByRole("button", { name: "Leave as is" }).click();
  await expect(page.getByText("This restore was closed; the target was left as it was")).toBeVisible();
});

test("the whole wizard: proposal, preview, staged diff, confirmation, restore with a reload in step 6, checks, done", async ({ page }, testInfo) => {
  testInfo.setTimeout(240_000);
  const wizard = new RestoreWizardPage(page, dash.url);
  await wizard.start();
  await wizard.checkConfiguredAgent();
  await expect(wizard.health).toContainText("Agent reachable");
  await expect(wizard.health).toContainText("k3s is running");
  await expect(wizard.health).toContainText("Disk space for staging");
  await shot(page, testInfo, "step1-where");
  await wizard.acceptTarget();

  await expect(wizard.proposal).toContainText("Newest verified backup");
  await expect(wizard.proposal).toContainText(set2);
  await expect(wizard.candidate(set1).getByTestId("verification")).toHaveAttribute("data-state", "verified");
  await expect(wizard.candidate(BAD_SET).getByTestId("verification")).toHaveAttribute("data-state", "failed");
  await expect(page.getByText("Or: recover the live database")).toBeVisible();
  // This agent ships no log: no point in time, and why.
  await expect(page.getByTestId("no-point-in-time")).toContainText("holds no continuous-protection log, so only whole backup sets can be restored");
  await shot(page, testInfo, "step2-which");
  await expectFitsPhone(page);
  await wizard.useProposal();

  const preview = page.getByTestId("backup-preview");
  await expect(preview).toContainText(`Backup of`);
  await expect(preview).toContainText(/Revision\s*[\d,]+/);
  await expect(preview).toContainText("From the set's manifest");
  await expect(page.getByTestId("live-comparison")).toContainText(/The live database is at revision [\d,]+; the backup at [\d,]+/);
  await shot(page, testInfo, "step3-preview");

  await wizard.stage();
  await expect(wizard.progress).toBeVisible();
  await wizard.waitStaged();
  await expect(wizard.failure).toHaveCount(0);
  await expect(page.getByTestId("staged-verification")).toContainText("integrity_check ok");
  await expect(wizard.diff).toContainText(/Restoring this backup loses \d+ objects? created or changed after/);
  await expect(wizard.diff).toContainText("configmaps");
  await shot(page, testInfo, "step4-staged");
  await expectFitsPhone(page);
  await wizard.continueToConfirm();

  const what = page.getByTestId("what-happens");
  await expect(what).toContainText("db.before-restore-<timestamp>");
  await expect(what).toContainText(`${OWNER.uid}:${OWNER.gid}`);
  await expect(what).toContainText("0600");
  await expect(what).toContainText("stop k3s");
  await expect(page.getByText(`Type ${hostname()}`)).toBeVisible();
  await page.getByLabel("Node name").fill("not-this-node");
  // The agent reported its host name: another name cannot even be submitted (the agent refuses it too;
  // lib/restore/wizard.test.ts proves that refusal).
  await expect(page.getByText(`That is not ${hostname()}.`)).toBeVisible();
  await expect(page.getByRole("button", { name: "Restore not-this-node now" })).toBeDisabled();
  await shot(page, testInfo, "step5-confirm");
  await wizard.expectStep("Confirm");
  await wizard.confirm(hostname());

  // Step 6 is live; a reload in the middle comes back to it (the restore id is in the saved run).
  await expect(wizard.progressStep("stop")).toHaveAttribute("data-state", /running|done/);
  await shot(page, testInfo, "step6-restore");
  await page.reload();
  await wizard.expectStep("Restore");
  await expect(wizard.progress).toBeVisible();
  await expect(wizard.progressStep("stop")).toHaveAttribute("data-state", /running|done/);
  await shot(page, testInfo, "step6-after-reload");

  await wizard.expectStep("After", 120_000);
  await expect(wizard.afterChecks).toContainText("quick_check of the live database: ok");
  await expect(wizard.afterChecks).toContainText("owner and mode: as configured");
  await expect(wizard.afterChecks).toContainText("k3s: active");
  await expect(wizard.afterChecks).toContainText("no stale WAL");
  await expect(page.getByTestId("nodes-check")).toHaveAttribute("data-state", "ready", { timeout: 30_000 });
  await expect(page.getByTestId("nodes-check")).toContainText(/All \d+ nodes are Ready/);
  await shot(page, testInfo, "step7-after");

  const runId = new URL(page.url()).searchParams.get("run")!;
  await wizard.keep();
  await shot(page, testInfo, "step7-done");

  // On disk: set 2's database (B, not C), owned 1000:1000 with 0600/0700, checked, and the previous one kept.
  expect(hasMarker(srv.dbPath, "marker-B")).toBe(true);
  expect(hasMarker(srv.dbPath, "marker-C")).toBe(false);
  expect(integrity(srv.dbPath)).toBe("ok");
  const dbDir = path.dirname(srv.dbPath);
  expect(ownerOf(dbDir)).toEqual({ ...OWNER, mode: "700" });
  for (const f of readdirSync(dbDir)) expect({ f, ...ownerOf(path.join(dbDir, f)) }).toEqual({ f, ...OWNER, mode: "600" });
  expect(ownerOf(path.join(srv.serverDir, "token"))).toEqual({ ...OWNER, mode: "600" });
  const view = await api<{ status: string; state: { record: { asideDir: string; done: boolean; after: { noStaleWal: boolean } } } }>(
    `/api/restore/runs/${runId}`,
  );
  expect(view.status).toBe("done");
  expect(view.state.record.done).toBe(true);
  expect(view.state.record.after.noStaleWal).toBe(true);
  const aside = view.state.record.asideDir;
  expect(path.basename(aside)).toMatch(/^db\.before-restore-\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}$/);
  expect(existsSync(path.join(aside, "state.db"))).toBe(true);
  expect(hasMarker(path.join(aside, "state.db"), "marker-C")).toBe(true);

  const audit = await api<{ entries: { action: string; outcome: string }[] }>("/api/audit?prefix=restore.&limit=100");
  const actions = audit.entries.map((e) => `${e.action}:${e.outcome}`);
  for (const a of [
    "restore.target:reachable",
    "restore.choose:ok",
    "restore.stage:started",
    "restore.verified:ok",
    "restore.confirm:ok",
    "restore.restore:succeeded",
    "restore.done:restored",
  ])
    expect(actions).toContain(a);
});

test("rollback after a restore puts the previous database back", async ({ page }, testInfo) => {
  testInfo.setTimeout(240_000);
  const wizard = new RestoreWizardPage(page, dash.url);
  await wizard.start();
  await wizard.checkConfiguredAgent();
  await wizard.acceptTarget();
  await wizard.choose(set1);
  await wizard.stage();
  await wizard.waitStaged();
  await expect(wizard.diff).toContainText("configmaps");
  await wizard.continueToConfirm();
  await wizard.confirm(hostname());

  // The dashboard restarts while the agent stops k3s (a few seconds): the new dashboard process,
  // on the same data directory, follows the same restore by the id saved in the run.
  const dataDir = dash.dataDir;
  await dash.stop();
  dash = await startDashboard({ dataDir, env: dashEnv });
  const resumed = new RestoreWizardPage(page, dash.url);
  await page.goto(`${dash.url}/restore`);
  await expect(resumed.currentStep).toContainText(/Restore|After/);
  await resumed.expectStep("After", 120_000);
  // Set 1 is in place: marker B (from set 2, restored before) is gone.
  expect(hasMarker(srv.dbPath, "marker-A")).toBe(true);
  expect(hasMarker(srv.dbPath, "marker-B")).toBe(false);

  await wizard.rollback();
  await expect(page.getByText("Rolled back: the previous database is back in place")).toBeVisible({ timeout: 120_000 });
  await expect(wizard.afterChecks).toContainText("quick_check of the live database: ok");
  await expect(wizard.afterChecks).toContainText("k3s: active");
  await shot(page, testInfo, "rollback-done");
  expect(hasMarker(srv.dbPath, "marker-B")).toBe(true);
  expect(integrity(srv.dbPath)).toBe("ok");
  expect(ownerOf(path.dirname(srv.dbPath))).toEqual({ ...OWNER, mode: "700" });
  expect(readdirSync(path.dirname(path.dirname(srv.dbPath))).some((n) => /^db\.rolled-back-/.test(n))).toBe(true);
  await page.getByRole("button", { name: "Finish" }).click();
  await expect(page.getByRole("button", { name: "Start a new restore" })).toBeVisible();
  const audit = await api<{ entries: { action: string; outcome: string }[] }>("/api/audit?prefix=restore.&limit=100");
  expect(audit.entries.map((e) => `${e.action}:${e.outcome}`)).toContain("restore.rollback:succeeded");
});
