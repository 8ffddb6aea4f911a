import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../db/database";
import { AlertStore } from "../alerts/alert-store";
import { DEFAULT_RULE_CONFIG, type RuleSet } from "../alerts/rules/types";
import { DAY, T0, agentInput, lifeboatHistory, ruleSets } from "../alerts/testing/fixtures";
import { twoCopyLifeboatObjectNames } from "../contracts/backup-names";
import { buildDashboardMetrics } from "./dashboard-metrics";

/** The dashboard's registry over a catalog of `sets` (no agent, no manifests). */
function registryOver(sets: RuleSet[], over: { refreshedAt: string | null; partial?: boolean }) {
  return buildDashboardMetrics({
    sources: {
      catalog: () => ({ source: "test", configured: true, sets, error: null, refreshIntervalMs: 60_000, verifications: new Map(), ...over }),
      manifests: async () => [],
      agent: () => agentInput({ configured: false, health: null }),
    },
    alerts: new AlertStore(openDatabase(mkdtempSync(path.join(tmpdir(), "lifeboat-metrics-")))),
    agentUp: () => null,
    config: DEFAULT_RULE_CONFIG,
    staleCritical: 1.5,
  }).registry;
}

describe("dashboard metrics", () => {
  it("dates the newest set by when the store received it when its name is dated ahead, so LifeboatBackupStale can fire", async () => {
    // Ten nightly sets; on night 3 a host clock 6 years ahead named one set 2030; backups stopped after night 9.
    const objects = lifeboatHistory(Array(10).fill(1_000_000));
    const received = new Date(T0 + 3 * DAY + 60_000).toISOString();
    for (const key of Object.values(twoCopyLifeboatObjectNames(new Date(Date.UTC(2030, 0, 1))))) objects.push({ key, size: 1_000_000, lastModified: received });
    const now = new Date(T0 + 14 * DAY);
    const sets = ruleSets(objects, now);
    expect(sets[0].timestamp).toBe("2030-01-01T00:00:00.000Z");
    const registry = registryOver(sets, { refreshedAt: now.toISOString() });
    const last = (await registry.getSingleMetric("lifeboat_backup_last_set_timestamp_seconds")!.get()).values[0]?.value;
    // The newest backup the store received: night 9's, a minute after its name.
    expect(last).toBe((T0 + 9 * DAY + 60_000) / 1000);
  });

  it("counts the complete sets once the store was listed whole: 0 for a store without one, absent before or during a listing", async () => {
    const now = new Date(T0 + 2 * DAY);
    const unfinished = lifeboatHistory([1_000_000, 1_000_000]).filter((o) => !o.key.endsWith("_manifest.json"));
    const complete = async (objects: typeof unfinished, over: { refreshedAt?: string | null; partial?: boolean } = {}) =>
      (
        await registryOver(ruleSets(objects, now), { refreshedAt: now.toISOString(), ...over })
          .getSingleMetric("lifeboat_backup_complete_sets")!
          .get()
      ).values[0]?.value;
    expect(await complete([])).toBe(0);
    expect(await complete(unfinished)).toBe(0);
    expect(await complete(lifeboatHistory([1_000_000, 1_000_000, 1_000_000]))).toBe(3);
    expect(await complete([], { refreshedAt: null })).toBeUndefined();
    expect(await complete([], { partial: true })).toBeUndefined();
  });
});
