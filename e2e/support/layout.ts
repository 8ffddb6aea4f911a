import { expect, type Page } from "@playwright/test";

/** A phone's viewport (an iPhone 12–15 is 390 CSS pixels wide). */
export const PHONE = { width: 390, height: 844 };

/** How far the page itself scrolls sideways (0 when everything fits its width). */
export async function sidewaysScroll(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

/**
 * On a phone the page in `page` does not scroll sideways: wide tables scroll inside their own cards
 * (and what they hold, screen-reader text included, stays inside them). Puts the viewport back after.
 */
export async function expectFitsPhone(page: Page): Promise<void> {
  const before = page.viewportSize();
  await page.setViewportSize(PHONE);
  try {
    await expect.poll(() => sidewaysScroll(page), { message: `${page.url()} scrolls sideways at ${PHONE.width} px` }).toBe(0);
  } finally {
    if (before) await page.setViewportSize(before);
  }
}
