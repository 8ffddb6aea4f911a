import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { test, expect, type Page } from "@playwright/test";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { launcherAccounts, signIn } from "./support/auth";
import { startDemoLauncher, type RunningDemo } from "./support/demo-launcher";
import { keepScreenshot } from "./support/screenshot";
import { RestoreWizardPage } from "./pages/restore-wizard-page";

// `npm start` without KUBECONFIG, as a newcomer runs it: besides the demo history and agent, the demo
// cluster (lib/launcher/demo-cluster.ts) — three simulated Raspberry Pis tied to the demo's
// simulated k3s. The node pages show it with a banner; the worker-migration wizard is completed with
// the demo join action (the drain visibly waits for the PodDisruptionBudget); the restore wizard's
// After step sees the nodes NotReady after k3s restarts, then Ready.

test.describe.configure({ mode: "serial" });

let demo: RunningDemo;
test.beforeAll(async () => {
  test.setTimeout(300_000);
  delete process.env.KUBECONFIG;
  demo = await startDemoLauncher("lifeboat-e2e-demo-cluster-");
});
test.afterAll(async () => {
  await demo?.stop();
});
test.beforeEach(async ({ page }) => signIn(page, launcherAccounts(demo.url, demo.dataDir)));

const row = (page: Page, name: string) => page.getByTestId(`node-row-${name}`);
/** The demo cluster's API, read the way kubectl would with the kubeconfig npm start wrote. */
function kube(): CoreV1Api {
  const kc = new KubeConfig();
  kc.loadFromFile(path.join(demo.dataDir, "demo-cluster", "kubeconfig"));
  return kc.makeApiClient(CoreV1Api);
}

test("npm start says where the demo cluster is; Nodes and a node's page show it live, with a banner", async ({ page }, info) => {
  expect(demo.output()).toMatch(/Demo cluster \(three simulated Raspberry Pis\) at https:\/\/127\.0\.0\.1:\d+; its kubeconfig is .*demo-cluster\/kubeconfig/);
  const kubeconfig = readFileSync(path.join(demo.dataDir, "demo-cluster", "kubeconfig"), "utf8");
  expect(kubeconfig).toContain("server: https://127.0.0.1:");

  await page.goto(demo.url + "/nodes");
  await expect(page.getByTestId("demo-cluster-banner")).toContainText("Demo cluster");
  await expect(page.getByTestId("demo-cluster-banner")).toContainText("KUBECONFIG");
  for (const n of ["pi-1", "pi-2", "pi-3"]) await expect(row(page, n)).toContainText("Ready", { timeout: 30_000 });
  await expect(row(page, "pi-1")).toContainText("control-plane");
  await expect(row(page, "pi-2")).toContainText("v1.31.4+k3s1");
  await expect(row(page, "pi-2")).toContainText("192.168.1.12");
  await keepScreenshot(page, info, "demo-cluster-01-nodes");

  await row(page, "pi-3").getByRole("link", { name: "pi-3" }).click();
  await expect(page.getByTestId("demo-cluster-banner")).toBeVisible();
  await expect(page.getByTestId("condition-Ready")).toContainText("True");
  await expect(page.getByTestId("pod-postgres-0")).toContainText("local-path");
  await expect(page.getByTestId("pod-node-exporter-t8b4n")).toContainText("DaemonSet");
  // The apps namespace's pods come from the demo kine database.
  const apps = (await kube().listNamespacedPod({ namespace: "apps" })).items;
  expect(apps.length).toBeGreaterThan(0);
  await keepScreenshot(page, info, "demo-cluster-02-node");
});

test("the worker-migration wizard is completed on the demo: the drain waits for the budget, the demo join brings pi-4", async ({ page }, info) => {
  test.setTimeout(180_000);
  const step = (label: string) => page.getByRole("navigation", { name: "Worker migration steps" }).locator('[aria-current="step"]').filter({ hasText: label });
  await page.goto(demo.url + "/nodes/migrate");
  await expect(page.getByTestId("demo-cluster-banner")).toBeVisible();
  await page.getByRole("radio", { name: "pi-2" }).check();
  await page.getByRole("button", { name: "Check pi-2" }).click();
  await expect(page.getByTestId("pdb-web")).toContainText("will make the drain wait");
  await page.getByLabel("I have read the warnings").check();
  await page.getByRole("button", { name: "Continue to cordon" }).click();
  await page.getByRole("button", { name: "Cordon pi-2" }).click();
  await expect(step("Drain")).toBeVisible();
  await page.getByRole("button", { name: "Start the drain" }).click();

  // The budget (minAvailable 2 of 3) refuses the second web pod until the first one's replacement is Ready.
  const blocked = page.locator('[data-testid^="drain-pod-web-"][data-state="blocked"]');
  await expect(blocked).toBeVisible({ timeout: 20_000 });
  await expect(blocked).toContainText("PodDisruptionBudget web");
  await keepScreenshot(page, info, "demo-cluster-03-drain-blocked");
  await expect(page.getByTestId("drain-progress")).toHaveAttribute("data-state", "succeeded", { timeout: 90_000 });
  await page.getByRole("button", { name: "Continue: delete the node" }).click();
  await page.getByLabel("Type pi-2 to confirm").fill("pi-2");
  await page.getByRole("button", { name: "Delete pi-2" }).click();

  // The join step: the write-up's server address, the token behind a reveal, and the labelled demo action.
  await expect(step("Join the replacement")).toBeVisible();
  await expect(page.getByTestId("join-command-masked")).toContainText("K3S_URL=https://192.168.1.11:6443");
  await expect(page.getByRole("button", { name: "Reveal the token" })).toBeVisible();
  await expect(page.getByText("Demo cluster: no machine to run it on")).toBeVisible();
  await keepScreenshot(page, info, "demo-cluster-04-join");
  await page.getByRole("button", { name: "Demo: make a new node join" }).click();

  await expect(step("Wait for it")).toBeVisible();
  await expect(page.getByTestId("candidate-pi-4")).toContainText("NotReady");
  await expect(page.getByText("pi-4 joined and is Ready")).toBeVisible({ timeout: 30_000 });
  await keepScreenshot(page, info, "demo-cluster-05-joined");
  await page.getByRole("button", { name: "Finish" }).click();
  await expect(page.getByText("pi-2 was replaced by pi-4", { exact: true })).toBeVisible();
  const nodes = (await kube().listNode()).items.map((n) => n.metadata?.name);
  expect(nodes).toEqual(["pi-1", "pi-3", "pi-4"]);
});

test("the restore wizard's After step sees the nodes NotReady after k3s restarts, then Ready", async ({ page }, info) => {
  test.setTimeout(300_000);
  const wizard = new RestoreWizardPage(page, demo.url);
  await wizard.start();
  await wizard.checkConfiguredAgent();
  await expect(wizard.health).toContainText("k3s is running", { timeout: 30_000 });
  await wizard.acceptTarget();
  await wizard.useProposal();
  await wizard.stage();
  await wizard.waitStaged();
  await expect(wizard.failure).toHaveCount(0);
  await wizard.continueToConfirm();
  await wizard.confirm(hostname());
  await wizard.expectStep("After", 180_000);
  // The kubelets reconnect one by one, seconds after k3s is back: first "waiting", then all Ready.
  await expect(wizard.nodesCheck).toHaveAttribute("data-state", "waiting", { timeout: 20_000 });
  await expect(wizard.nodesCheck).toContainText(/Waiting for .*pi-\d.* to be Ready/);
  await keepScreenshot(page, info, "demo-cluster-06-after-waiting");
  await expect(wizard.nodesCheck).toHaveAttribute("data-state", "ready", { timeout: 60_000 });
  await expect(wizard.nodesCheck).toContainText("All 3 nodes are Ready");
  await keepScreenshot(page, info, "demo-cluster-07-after-ready");
});
