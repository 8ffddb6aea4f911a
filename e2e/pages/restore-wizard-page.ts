import { expect, type Locator, type Page } from "@playwright/test";

/** The restore wizard (/restore) as a person uses it. */
export class RestoreWizardPage {
  constructor(
    readonly page: Page,
    readonly baseUrl: string,
  ) {}

  /** Opens the wizard and starts a new restore (step 1). */
  async start(): Promise<void> {
    await this.page.goto(`${this.baseUrl}/restore`);
    await this.page.getByRole("button", { name: "Start a restore" }).click();
    await this.expectStep("Where");
  }

  /** The step list's current entry. */
  get currentStep(): Locator {
    return this.page.getByRole("navigation", { name: "Restore steps" }).locator('[aria-current="step"]');
  }

  async expectStep(label: string, timeout?: number): Promise<void> {
    await expect(this.currentStep).toContainText(label, { timeout });
  }

  async checkConfiguredAgent(): Promise<void> {
    await this.page.getByRole("radio", { name: /This cluster's server/ }).check();
    await this.page.getByRole("button", { name: /Check this agent|Check again/ }).click();
  }

  /** Step 1 with a new machine's agent: its URL, token and (for HTTPS) certificate fingerprint. */
  async checkNewMachine(url: string, token: string, fingerprint = ""): Promise<void> {
    await this.page.getByRole("radio", { name: /A new machine/ }).check();
    await this.page.getByLabel("Agent URL").fill(url);
    await this.page.getByLabel("Agent token").fill(token);
    await this.page.getByLabel(/Certificate fingerprint/).fill(fingerprint);
    await this.page.getByRole("button", { name: /Check this agent|Check again/ }).click();
  }

  get health(): Locator {
    return this.page.getByTestId("target-health");
  }

  get agentProblem(): Locator {
    return this.page.getByTestId("agent-problem");
  }

  async acceptTarget(): Promise<void> {
    await this.page.getByRole("button", { name: "Restore onto this machine →" }).click();
    await this.expectStep("Which backup");
  }

  get proposal(): Locator {
    return this.page.getByTestId("proposal");
  }

  candidate(setId: string): Locator {
    return this.page.getByTestId("candidate-sets").locator(`tr[data-set-id="${setId}"]`);
  }

  async useProposal(): Promise<void> {
    await this.page.getByRole("button", { name: "Use the proposed backup →" }).click();
    await this.expectStep("Preview");
  }

  async choose(setId: string): Promise<void> {
    await this.candidate(setId)
      .getByRole("button", { name: /^Choose/ })
      .click();
    await this.expectStep("Preview");
  }

  async stage(): Promise<void> {
    await this.page.getByRole("button", { name: /^Stage and verify on/ }).click();
    await this.expectStep("Stage and verify");
  }

  /** Waits until staging verified the backup (or failed: the failure panel shows). */
  async waitStaged(): Promise<void> {
    await expect(this.page.getByText("Staged and verified — nothing on the target has changed yet").or(this.failure)).toBeVisible({ timeout: 120_000 });
  }

  get failure(): Locator {
    return this.page.getByTestId("failure");
  }

  get diff(): Locator {
    return this.page.getByTestId("restore-diff").first();
  }

  async continueToConfirm(): Promise<void> {
    await this.page.getByRole("button", { name: "Continue to confirmation →" }).click();
    await this.expectStep("Confirm");
  }

  async confirm(host: string): Promise<void> {
    await this.page.getByLabel("Node name").fill(host);
    await this.page.getByRole("button", { name: `Restore ${host} now` }).click();
    await this.expectStep("Restore");
  }

  get progress(): Locator {
    return this.page.getByTestId("restore-progress");
  }

  progressStep(name: string): Locator {
    return this.progress.locator(`[data-step="${name}"]`);
  }

  get afterChecks(): Locator {
    return this.page.getByTestId("after-checks");
  }

  async keep(): Promise<void> {
    await this.page.getByRole("button", { name: "Keep this restore (done)" }).click();
    await expect(this.page.getByText("Restore done")).toBeVisible();
  }

  async rollback(): Promise<void> {
    await this.page.getByRole("button", { name: "Roll back…" }).click();
    await this.page.getByRole("button", { name: "Roll back", exact: true }).click();
  }

  /** "Check again" on the step shown (where: the target's health; after: the checks and the nodes). */
  async checkAgain(): Promise<void> {
    await this.page.getByRole("button", { name: "Check again" }).click();
  }

  get recoveryReport(): Locator {
    return this.page.getByTestId("recovery-report");
  }

  /** Step 2's "recover the live database": runs the ladder on the target and waits for its report. */
  async recoverLiveDatabase(): Promise<void> {
    await this.page.getByRole("button", { name: "Try a recovery of the live database" }).click();
    await expect(this.page.getByText("The recovery ladder is running on a copy of the live database…").or(this.recoveryReport)).toBeVisible();
    await expect(this.recoveryReport).toBeVisible({ timeout: 120_000 });
  }

  /** Chooses the recovered database as what to restore (step 2 → preview). */
  async chooseRecovered(): Promise<void> {
    await this.page.getByRole("button", { name: /^Restore the recovered database \([\d,]+ rows\) →$/ }).click();
    await this.expectStep("Preview");
  }

  /** "← Choose another backup" (preview or stage) or "← Change the target" (which): one step back. */
  async back(to: "which" | "where"): Promise<void> {
    await this.page.getByRole("button", { name: to === "which" ? "← Choose another backup" : "← Change the target" }).click();
    await this.expectStep(to === "which" ? "Which backup" : "Where");
  }

  get nodesCheck(): Locator {
    return this.page.getByTestId("nodes-check");
  }

  /** "Leave as is…" in the header, confirmed. */
  async leave(): Promise<void> {
    await this.page.getByRole("button", { name: "Leave as is…" }).click();
    await this.page.getByRole("button", { name: "Leave as is", exact: true }).click();
    await expect(this.page.getByText("This restore was closed; the target was left as it was")).toBeVisible();
  }
}
