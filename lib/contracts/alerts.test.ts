import { describe, expect, it } from "vitest";
import { NotificationPreferences } from "./alerts";

describe("NotificationPreferences", () => {
  it("takes whole hours from 0 (never) to 30 days, and refuses a fraction, which would remind at every evaluation", () => {
    for (const h of [0, 1, 4, 720]) expect(NotificationPreferences.safeParse({ remindEveryHours: h }).success, String(h)).toBe(true);
    for (const h of [0.001, 0.5, 1.5, -1, 721]) expect(NotificationPreferences.safeParse({ remindEveryHours: h }).success, String(h)).toBe(false);
    expect(NotificationPreferences.safeParse({ remindEveryHours: 0.001 }).error?.issues[0].message).toBe(
      "Reminders are every whole number of hours (0: never).",
    );
  });
});
