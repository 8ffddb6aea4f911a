import { test, expect, type Page } from "@playwright/test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startDashboard, type RunningDashboard } from "./support/dashboard";
import { startTestCluster, type TestCluster } from "./support/kube";
import { signIn } from "./support/auth";
import { keepScreenshot } from "./support/screenshot";
import { expectFitsPhone } from "./support/layout";

// The nodes page and a node's detail against the HTTPS test Kubernetes API: the table, auto-refresh,
// actions behind confirmations sized to the damage, and the errors a person can meet.

test.describe("without a cluster configured", () => {
  let dash: RunningDashboard;
  test.beforeAll(async () => {
    dash = await startDashboard({ env: { KUBECONFIG: "", HOME: mkdtempSync(path.join(tmpdir(), "lifeboat-nohome-")) } });
  });
  test.afterAll(async () => {
    await dash?.stop();
  });
  test.beforeEach(async ({ page }) => signIn(page, dash));

  test("the node pages say what to set and the dashboard keeps working", async ({ page }, info) => {
    await page.goto(dash.url + "/nodes");
    await expect(page.getByText("No Kubernetes cluster is configured", { exact: true })).toBeVisible();
    await expect(page.getByText(/Set KUBECONFIG to a kubeconfig file for the cluster/)).toBeVisible();
    await keepScreenshot(page, info, "nodes-00-not-configured");
    await page.goto(dash.url + "/nodes/migrate");
    await expect(page.getByText("No Kubernetes cluster is configured", { exact: true })).toBeVisible();
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit log" }).click();
    await expect(page.getByRole("heading", { name: "Audit log" })).toBeVisible();
  });
});

test.describe("with the test cluster", () => {
  let cluster: TestCluster;
  let dash: RunningDashboard;
  test.beforeAll(async () => {
    cluster = await startTestCluster({ controllers: { replacementDelayMs: 200, readyDelayMs: 1000 } });
    dash = await startDashboard({ env: cluster.env });
  });
  test.afterAll(async () => {
    await dash?.stop();
    await cluster?.stop();
  });
  test.beforeEach(async ({ page }) => signIn(page, dash));

  const row = (page: Page, name: string) => page.getByTestId(`node-row-${name}`);

  test("the table shows every node with status, roles, versions and resources, and refreshes itself", async ({ page }, info) => {
    await page.goto(dash.url + "/nodes");
    await expect(row(page, "pi-1")).toContainText("control-plane, master");
    await expect(row(page, "pi-2")).toContainText("worker");
    await expect(row(page, "pi-2")).toContainText("Ready");
    await expect(row(page, "pi-2")).toContainText("v1.31.4+k3s1");
    await expect(row(page, "pi-2")).toContainText("192.168.1.12");
    await expect(row(page, "pi-2")).toContainText("700m / 4");
    await expect(row(page, "pi-2")).toContainText("6 / 110");
    await expect(row(page, "pi-1")).toContainText("412d");
    await expect(page.getByText(/Cluster lifeboat-test/)).toBeVisible();
    await keepScreenshot(page, info, "nodes-01-list");

    // A change in the cluster shows up without a reload.
    cluster.api.cluster.setNodeReady("pi-3", false);
    await expect(row(page, "pi-3")).toContainText("NotReady", { timeout: 12_000 });
    cluster.api.cluster.setNodeReady("pi-3", true);
    await expect(row(page, "pi-3")).not.toContainText("NotReady", { timeout: 12_000 });
  });

  test("a node's detail shows conditions, taints and pods", async ({ page }, info) => {
    await page.goto(dash.url + "/nodes");
    await row(page, "pi-2").getByRole("link", { name: "pi-2" }).click();
    await expect(page.getByRole("heading", { name: /pi-2/ })).toBeVisible();
    await expect(page.getByTestId("condition-Ready")).toContainText("True");
    await expect(page.getByTestId("condition-Ready")).toContainText("KubeletReady");
    await expect(page.getByTestId("condition-DiskPressure")).toContainText("False");
    await expect(page.getByText("None: any pod may be scheduled here.")).toBeVisible();
    await expect(page.getByTestId("pod-grafana-7c9f8b6d4-kw5rt")).toContainText("local-path");
    await expect(page.getByTestId("pod-svclb-traefik-4c1b9a2e-6sd4t")).toContainText("DaemonSet");
    await expect(page.getByTestId("pod-debug-shell")).toContainText("no controller");
    await keepScreenshot(page, info, "nodes-02-detail");
    // The conditions and pods tables scroll inside their cards on a phone; so does the node list.
    await expectFitsPhone(page);
    await page.goto(dash.url + "/nodes");
    await expect(row(page, "pi-2")).toBeVisible();
    await expectFitsPhone(page);
  });

  test("cordon and uncordon ask first, show the kubectl command, and change the cluster", async ({ page }, info) => {
    await page.goto(dash.url + "/nodes/pi-3");
    await page.getByRole("button", { name: "Cordon" }).click();
    const dialog = page.getByRole("dialog", { name: "Cordon pi-3?" });
    await expect(dialog).toContainText("kubectl cordon pi-3");
    await keepScreenshot(page, info, "nodes-03-cordon-confirm");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    expect(cluster.api.cluster.nodes.get("pi-3")!.spec.unschedulable).toBeFalsy();

    await page.getByRole("button", { name: "Cordon" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Cordon" }).click();
    await expect(page.getByText("pi-3 is cordoned: no new pods will be scheduled on it.")).toBeVisible();
    expect(cluster.api.cluster.nodes.get("pi-3")!.spec.unschedulable).toBe(true);
    await expect(page.getByText("node.kubernetes.io/unschedulable:NoSchedule")).toBeVisible();
    await expect(page.getByRole("heading", { name: /pi-3/ })).toContainText("SchedulingDisabled");
    await keepScreenshot(page, info, "nodes-04-cordoned");

    await page.getByRole("button", { name: "Uncordon" }).click();
    await expect(page.getByRole("dialog")).toContainText("kubectl uncordon pi-3");
    await page.getByRole("dialog").getByRole("button", { name: "Uncordon" }).click();
    await expect(page.getByText("pi-3 is schedulable again.")).toBeVisible();
    expect(cluster.api.cluster.nodes.get("pi-3")!.spec.unschedulable).toBeUndefined();
  });

  test("drain from the node page evicts pod by pod and waits for a StatefulSet pod to be gone", async ({ page }, info) => {
    await page.goto(dash.url + "/nodes/pi-3");
    await page.getByRole("button", { name: "Drain…" }).click();
    const dialog = page.getByRole("dialog", { name: "Drain pi-3?" });
    await expect(dialog).toContainText("kubectl drain pi-3 --ignore-daemonsets --timeout=300s");
    await keepScreenshot(page, info, "nodes-05-drain-confirm");
    await dialog.getByRole("button", { name: "Drain pi-3" }).click();
    const progress = page.getByTestId("drain-progress");
    await expect(progress).toHaveAttribute("data-state", "succeeded", { timeout: 30_000 });
    await expect(page.getByTestId("drain-pod-postgres-0")).toHaveAttribute("data-state", "gone");
    await expect(page.getByTestId("drain-pod-svclb-traefik-4c1b9a2e-jq8zp")).toHaveAttribute("data-state", "skipped");
    await keepScreenshot(page, info, "nodes-06-drained");
    const left = [...cluster.api.cluster.pods.values()].filter((p) => p.spec.nodeName === "pi-3");
    expect(left.map((p) => p.metadata.name)).toEqual(["svclb-traefik-4c1b9a2e-jq8zp"]);
    expect(cluster.api.cluster.nodes.get("pi-3")!.spec.unschedulable).toBe(true);
  });

  test("delete needs the node's name typed; RBAC refusals name the missing right", async ({ page }, info) => {
    await page.goto(dash.url + "/nodes/pi-3");
    cluster.api.setForbidden([{ verb: "delete", resource: "nodes" }]);
    await page.getByRole("button", { name: "Delete…" }).click();
    const dialog = page.getByRole("dialog", { name: "Delete the node pi-3?" });
    await expect(dialog).toContainText("kubectl delete node pi-3");
    const confirm = dialog.getByRole("button", { name: "Delete node" });
    await expect(confirm).toBeDisabled();
    await dialog.getByLabel("Type pi-3 to confirm").fill("pi-2");
    await expect(confirm).toBeDisabled();
    await dialog.getByLabel("Type pi-3 to confirm").fill("pi-3");
    await expect(confirm).toBeEnabled();
    await keepScreenshot(page, info, "nodes-07-delete-confirm");
    await confirm.click();
    await expect(dialog.getByRole("alert")).toContainText('may not delete nodes. Grant it an RBAC rule allowing the verb "delete" on "nodes"');
    await keepScreenshot(page, info, "nodes-08-delete-forbidden");
    expect(cluster.api.cluster.nodes.has("pi-3")).toBe(true);

    cluster.api.setForbidden([]);
    await confirm.click();
    await expect(page.getByText("The node object pi-3 is deleted.")).toBeVisible();
    expect(cluster.api.cluster.nodes.has("pi-3")).toBe(false);
    await page.goto(dash.url + "/nodes/pi-3");
    await expect(page.getByText("pi-3 is not in the cluster")).toBeVisible();
    await expect(page.getByText('Node "pi-3" was not found in cluster "lifeboat-test"')).toBeVisible();
  });

  test("the audit log lists the node actions", async ({ page }, info) => {
    await page.goto(dash.url + "/audit");
    await page.getByRole("button", { name: "Node actions" }).click();
    const rows = page.getByTestId("audit-row");
    await expect(rows.filter({ hasText: "node.delete" }).filter({ hasText: "failed" })).toHaveCount(1);
    await expect(rows.filter({ hasText: "node.delete" }).filter({ hasText: "ok" })).toHaveCount(1);
    await expect(rows.filter({ hasText: "node.cordon" })).toHaveCount(1);
    await expect(rows.filter({ hasText: "node.drain" }).filter({ hasText: "succeeded" })).toContainText("pi-3 is drained: 1 pod evicted");
    await keepScreenshot(page, info, "nodes-09-audit");
  });

  test("when the cluster stops answering, the last node list stays with its age", async ({ page }, info) => {
    await page.goto(dash.url + "/nodes");
    await expect(row(page, "pi-2")).toBeVisible();
    await cluster.api.pause();
    await expect(page.getByText(/The cluster does not answer — showing what was last seen/)).toBeVisible({ timeout: 15_000 });
    await expect(page.getByText(/connection refused/)).toBeVisible();
    await expect(row(page, "pi-2")).toBeVisible();
    await expect(page.getByTestId("nodes-freshness")).toContainText("Last seen");
    await keepScreenshot(page, info, "nodes-10-unreachable");
    // And it recovers by itself when the API answers again.
    await cluster.api.resume();
    await expect(page.getByText(/The cluster does not answer/)).toHaveCount(0, { timeout: 15_000 });
    await expect(page.getByTestId("nodes-freshness")).toContainText("Updated");
  });
});
