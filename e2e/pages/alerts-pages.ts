import { expect, type Locator, type Page } from "@playwright/test";

/** The Alerts page and Settings → Notifications, as a person uses them. */
export class AlertsPage {
  readonly firing: Locator;
  readonly history: Locator;
  readonly navCount: Locator;

  constructor(
    readonly page: Page,
    readonly base: string,
  ) {
    this.firing = page.getByTestId("firing-alert");
    this.history = page.getByTestId("history-row");
    this.navCount = page.getByRole("navigation", { name: "Main" }).getByTestId("alert-count");
  }

  async goto(): Promise<void> {
    await this.page.goto(this.base + "/alerts");
    await expect(this.page.getByRole("heading", { level: 1, name: "Alerts" })).toBeVisible();
  }

  alert(key: string): Locator {
    return this.page.locator(`[data-testid=firing-alert][data-alert-key="${key}"]`);
  }
}

export class NotificationsPage {
  readonly channels: Locator;

  constructor(
    readonly page: Page,
    readonly base: string,
  ) {
    this.channels = page.getByTestId("channel");
  }

  async goto(): Promise<void> {
    await this.page.goto(this.base + "/settings/notifications");
    await expect(this.page.getByRole("heading", { level: 1, name: "Notifications" })).toBeVisible();
  }

  channel(label: string): Locator {
    return this.page.locator(`[data-testid=channel][data-channel-label="${label}"]`);
  }

  /** Fills the add form: type (its option text), name, and the fields by their labels. */
  async addChannel(type: string, name: string, fields: Record<string, string>): Promise<void> {
    await this.page.getByRole("button", { name: "Add a channel" }).click();
    const form = this.page.getByRole("form", { name: "Add a channel" });
    await form.getByLabel("Type").selectOption({ label: type });
    await form.getByLabel("Name").fill(name);
    for (const [label, value] of Object.entries(fields)) await form.getByLabel(label).fill(value);
    await form.getByRole("button", { name: "Add channel" }).click();
    await expect(this.channel(name)).toBeVisible();
  }
}
