import { expect, type Locator, type Page } from "@playwright/test";

/** The backup history page (/backups) as a person uses it. */
export class BackupsPage {
  constructor(
    readonly page: Page,
    readonly baseUrl: string,
  ) {}

  async goto(query = ""): Promise<void> {
    await this.page.goto(`${this.baseUrl}/backups${query}`);
    await expect(this.page.getByRole("heading", { name: "Backups", level: 1 })).toBeVisible();
  }

  get rows(): Locator {
    return this.page.getByTestId("history-table").locator("tbody tr");
  }

  row(setId: string): Locator {
    return this.page.locator(`tr[data-set-id="${setId}"]`);
  }

  get chart(): Locator {
    return this.page.getByTestId("size-chart");
  }

  /** Markers on flagged points of the chart, optionally of one level. */
  chartFlags(level?: "critical" | "warning"): Locator {
    const all = this.page.getByTestId("chart-flag");
    return level ? all.and(this.page.locator(`[data-level="${level}"]`)) : all;
  }

  /** Clicks a history filter such as "Critical" or "Gap". */
  async filter(label: string): Promise<void> {
    await this.page
      .getByRole("navigation", { name: "Filter backups" })
      .getByRole("link", { name: new RegExp(`^${label}\\b`) })
      .click();
  }

  get freshness(): Locator {
    return this.page.getByTestId("catalog-freshness");
  }

  async refresh(): Promise<void> {
    const button = this.page.getByRole("button", { name: /^(↻\s*)?Refresh/ }).first();
    await button.click();
    await expect(this.page.getByRole("button", { name: /Refreshing/ })).toHaveCount(0, { timeout: 30_000 });
  }

  /** The banner shown when listing the store failed (Next.js's route announcer is an alert too). */
  get errorBanner(): Locator {
    return this.page.getByTestId("store-error").getByRole("alert");
  }
}
