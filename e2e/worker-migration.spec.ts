import { test, expect } from "@playwright/test";
import { startDashboard, type RunningDashboard } from "./support/dashboard";
import { startTestCluster, type TestCluster } from "./support/kube";
import { signIn } from "./support/auth";
import { keepScreenshot } from "./support/screenshot";

// The whole worker migration, clicked through against the HTTPS test Kubernetes API: pi-2 is
// replaced. Its two `web` pods sit under a PodDisruptionBudget that lets one go at a time, so the
// second eviction is refused until the first one's replacement is Ready on another node — the drain
// must show it blocked, then carry on by itself.

let cluster: TestCluster;
let dash: RunningDashboard;
test.beforeAll(async () => {
  cluster = await startTestCluster({ controllers: { replacementDelayMs: 300, readyDelayMs: 5000 } });
  dash = await startDashboard({ env: cluster.env });
});
test.afterAll(async () => {
  await dash?.stop();
  await cluster?.stop();
});
test.beforeEach(async ({ page }) => signIn(page, dash));

test("replace pi-2: choose, pre-check, cordon, drain through a PDB, delete, join, wait, summary", async ({ page }, info) => {
  test.setTimeout(150_000);
  const k = cluster.api.cluster;
  const step = (label: string) => page.getByRole("navigation", { name: "Worker migration steps" }).locator('[aria-current="step"]').filter({ hasText: label });

  // 1. Choose the worker; the control plane cannot be chosen.
  await page.goto(dash.url + "/nodes/migrate");
  await expect(step("Choose the worker")).toBeVisible();
  await expect(page.getByRole("radio", { name: "pi-1" })).toBeDisabled();
  await page.getByRole("radio", { name: "pi-2" }).check();
  await expect(page.getByTestId("pod-web-7d4b9c6f5d-2xkqp")).toBeVisible();
  await keepScreenshot(page, info, "migration-01-choose");
  await page.getByRole("button", { name: "Check pi-2" }).click();

  // 2. Pre-checks: node-local data, emptyDir, unmanaged pod, the budget that will make the drain wait.
  await expect(step("Pre-checks")).toBeVisible();
  const warnings = page.getByTestId("precheck-warnings");
  await expect(warnings).toContainText("keeps data on pi-2's own disk (grafana-7c9f8b6d4-kw5rt)");
  await expect(warnings).toContainText("emptyDir (redis-6f8d5b7c9-tm2vw)");
  await expect(warnings).toContainText("no controller (debug-shell)");
  await expect(warnings).toContainText("PodDisruptionBudget web allows 1 disruption now and 2 of its pods run on pi-2");
  await expect(page.getByTestId("pdb-web")).toContainText("will make the drain wait");
  await keepScreenshot(page, info, "migration-02-precheck");

  // The run is saved: a reload resumes at the same step.
  await page.reload();
  await expect(step("Pre-checks")).toBeVisible();
  await expect(page).toHaveURL(/\/nodes\/migrate\?run=/);
  const proceed = page.getByRole("button", { name: "Continue to cordon" });
  await expect(proceed).toBeDisabled();
  await page.getByLabel("I have read the warnings").check();
  await proceed.click();

  // 3. Cordon.
  await expect(step("Cordon")).toBeVisible();
  await expect(page.getByText("kubectl cordon pi-2")).toBeVisible();
  await expect(page.getByRole("button", { name: "Cordon pi-2" })).toBeEnabled();
  await keepScreenshot(page, info, "migration-03-cordon");
  await page.getByRole("button", { name: "Cordon pi-2" }).click();
  await expect(step("Drain")).toBeVisible();
  expect(k.nodes.get("pi-2")!.spec.unschedulable).toBe(true);

  // 4. Drain: refused without the explicit choices, nothing evicted.
  await page.getByRole("button", { name: "Start the drain" }).click();
  await expect(page.getByTestId("drain-progress")).toHaveAttribute("data-state", "refused");
  await expect(page.getByTestId("drain-progress")).toContainText("Nothing was evicted: 2 pods need an explicit choice first.");
  await keepScreenshot(page, info, "migration-04-drain-refused");
  expect([...k.pods.values()].filter((p) => p.spec.nodeName === "pi-2")).toHaveLength(6);

  await page.getByLabel(/Delete emptyDir data/).check();
  await page.getByLabel(/Evict pods that no controller manages/).check();
  await expect(page.getByText("kubectl drain pi-2 --ignore-daemonsets --delete-emptydir-data --force --timeout=300s").first()).toBeVisible();
  await page.getByRole("button", { name: "Drain again" }).click();

  // The budget refuses the second web pod; the page shows it blocked, and which budget.
  const blocked = page.locator('[data-testid^="drain-pod-web-"][data-state="blocked"]');
  await expect(blocked).toBeVisible({ timeout: 15_000 });
  await expect(blocked).toContainText("PodDisruptionBudget web");
  await expect(blocked).toContainText("Cannot evict pod as it would violate the pod's disruption budget.");
  await keepScreenshot(page, info, "migration-05-drain-blocked");

  // The drain runs in the dashboard server: a reload shows the same progress.
  await page.reload();
  await expect(page.getByTestId("drain-progress")).toBeVisible();
  await expect(page.getByTestId("drain-progress")).toHaveAttribute("data-state", "succeeded", { timeout: 60_000 });
  for (const name of ["web-7d4b9c6f5d-2xkqp", "web-7d4b9c6f5d-r8m4s", "redis-6f8d5b7c9-tm2vw", "grafana-7c9f8b6d4-kw5rt", "debug-shell"])
    await expect(page.getByTestId(`drain-pod-${name}`)).toHaveAttribute("data-state", "gone");
  await expect(page.getByTestId("drain-pod-svclb-traefik-4c1b9a2e-6sd4t")).toHaveAttribute("data-state", "skipped");
  await keepScreenshot(page, info, "migration-06-drained");
  expect([...k.pods.values()].filter((p) => p.spec.nodeName === "pi-2").map((p) => p.metadata.name)).toEqual(["svclb-traefik-4c1b9a2e-6sd4t"]);
  await page.getByRole("button", { name: "Continue: delete the node" }).click();

  // 5. Delete, with the name typed.
  await expect(step("Delete the node")).toBeVisible();
  const del = page.getByRole("button", { name: "Delete pi-2" });
  await expect(del).toBeDisabled();
  await page.getByLabel("Type pi-2 to confirm").fill("pi-2");
  await expect(del).toBeEnabled();
  await keepScreenshot(page, info, "migration-07-delete");
  await del.click();
  await expect(step("Join the replacement")).toBeVisible();
  expect(k.nodes.has("pi-2")).toBe(false);

  // 6. Join: the server URL filled in; the token only after an explicit reveal.
  await expect(page.getByTestId("join-command-masked")).toContainText(`curl -sfL https://get.k3s.io | K3S_URL=${cluster.api.url} K3S_TOKEN=`);
  await expect(page.locator("body")).not.toContainText(cluster.joinToken);
  await expect(page.getByText(/is a loopback address: a new worker cannot reach it/)).toBeVisible();
  await keepScreenshot(page, info, "migration-08-join");
  await page.getByRole("button", { name: "Reveal the token" }).click();
  await expect(page.getByTestId("join-command")).toHaveText(`curl -sfL https://get.k3s.io | K3S_URL=${cluster.api.url} K3S_TOKEN=${cluster.joinToken} sh -`);
  await keepScreenshot(page, info, "migration-09-join-revealed");
  await page.getByRole("button", { name: "I ran it — wait for the new node" }).click();

  // 7. Wait for the new node: it registers NotReady, then turns Ready.
  await expect(step("Wait for it")).toBeVisible();
  await expect(page.getByRole("button", { name: "Finish" })).toBeDisabled();
  k.registerNode({ name: "pi-4", internalIP: "192.168.1.14", kubeletVersion: "v1.32.1+k3s1", memory: "7998004Ki" }, 4000);
  await expect(page.getByTestId("candidate-pi-4")).toContainText("NotReady");
  await keepScreenshot(page, info, "migration-10-waiting");
  await expect(page.getByText("pi-4 joined and is Ready")).toBeVisible({ timeout: 20_000 });
  await page.getByRole("button", { name: "Finish" }).click();

  // 8. Summary, and the resulting state of the cluster.
  await expect(step("Summary")).toBeVisible();
  await expect(page.getByText("pi-2 was replaced by pi-4", { exact: true })).toBeVisible();
  await expect(page.getByTestId("migration-events")).toContainText("pi-4 joined and is Ready.");
  await keepScreenshot(page, info, "migration-11-summary");
  await page.reload();
  await expect(page.getByText("pi-2 was replaced by pi-4", { exact: true })).toBeVisible();

  expect(k.nodes.has("pi-2")).toBe(false);
  expect(k.nodes.get("pi-4")!.status.conditions.find((c: { type: string }) => c.type === "Ready").status).toBe("True");
  for (const gone of ["web-7d4b9c6f5d-2xkqp", "web-7d4b9c6f5d-r8m4s", "redis-6f8d5b7c9-tm2vw", "debug-shell"])
    expect(k.pods.has(`default/${gone}`)).toBe(false);
  const web = [...k.pods.values()].filter((p) => p.metadata.labels?.app === "web");
  expect(web).toHaveLength(2);
  expect(web.every((p) => p.spec.nodeName && p.spec.nodeName !== "pi-2")).toBe(true);
  expect(k.history.filter((h) => h.startsWith("evicted default/web-"))).toHaveLength(2);
  expect(cluster.api.requests.some((r) => r.path.endsWith("/eviction") && r.status === 429)).toBe(true);

  // Every action is in the audit log; the token never is.
  await page.goto(dash.url + "/audit");
  await page.getByRole("button", { name: "Worker migrations" }).click();
  const rows = page.getByTestId("audit-row");
  for (const action of [
    "worker-migration.start",
    "worker-migration.precheck-accepted",
    "worker-migration.token.reveal",
    "worker-migration.new-node",
    "worker-migration.finish",
  ])
    await expect(rows.filter({ hasText: action })).toHaveCount(1);
  await page.getByRole("button", { name: "Everything" }).click();
  for (const action of ["node.cordon", "node.delete"]) await expect(rows.filter({ hasText: action })).toHaveCount(1);
  await expect(rows.filter({ hasText: "node.drain" })).toHaveCount(4);
  await expect(page.locator("body")).not.toContainText(cluster.joinToken);
  await keepScreenshot(page, info, "migration-12-audit");
});
