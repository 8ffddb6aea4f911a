import { describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { openDatabase } from "../db/database";
import type { CatalogSet, ManifestState } from "../contracts/catalog";
import type { BackupManifest } from "../contracts/manifest";
import { kineStatsBeforeIssue14 } from "../backups/testing/kine-stats";
import { StatisticsService, type DrillPort } from "./service";
import { SetStatisticsStore } from "./store";

/**
 * The statistics service's own rules, through its ports (a catalog of plain sets, drills as a
 * table): which manifests it reads and reads again, what an explanation is given for, and whom it
 * offers Verify now. The whole path over real databases, agent and store is explain-series.test.ts.
 */

const KINE = kineStatsBeforeIssue14();

function lifeboat(day: number, growth = false): CatalogSet {
  const stamp = `2024-12-${String(day).padStart(2, "0")}_00-00-00`;
  return {
    id: `lifeboat-${stamp}`,
    format: "lifeboat",
    timestamp: `2024-12-${String(day).padStart(2, "0")}T00:00:00.000Z`,
    objects: [{ key: `lifeboat_${stamp}_manifest.json`, kind: "manifest", size: 100, lastModified: "2024-12-01T00:00:00.000Z" }],
    missing: [],
    anomalies: growth ? [{ kind: "lifeboat-logical", type: "growth", level: "critical", ratio: 3, reason: "grew" }] : [],
  };
}

function setup(opts: { manifests: (set: CatalogSet) => ManifestState; sets: CatalogSet[]; drills?: DrillPort; agent?: boolean }) {
  const db = openDatabase(mkdtempSync(path.join(tmpdir(), "lifeboat-stats-svc-")));
  const reads: string[] = [];
  let sets = opts.sets;
  const svc = new StatisticsService({
    store: new SetStatisticsStore(db, "test"),
    catalog: {
      sets: () => sets,
      manifest: async (s) => {
        reads.push(s.id);
        return opts.manifests(s);
      },
    },
    drills: opts.drills ?? { state: () => null, passed: () => [] },
    agent: () => null,
    log: pino({ level: "silent" }),
  });
  return { svc, reads, setSets: (next: CatalogSet[]) => (sets = next) };
}

const ok = (_set: CatalogSet): ManifestState => ({ state: "ok", manifest: { database: KINE } as BackupManifest });

describe("StatisticsService", () => {
  it("reads each manifest once, skips a catalog it already went through, and asks again for one the store could not give", async () => {
    const sets = [lifeboat(1), lifeboat(2), lifeboat(3)];
    let storeDown = true;
    const { svc, reads, setSets } = setup({
      sets,
      manifests: (s) =>
        s.id === sets[1].id
          ? { state: "invalid", message: "not JSON" }
          : s.id === sets[2].id && storeDown
            ? { state: "unavailable", message: "timeout" }
            : ok(s),
    });
    await svc.sync();
    expect(svc.statistics(sets[0].id)).toMatchObject({ from: "manifest", rowCount: 1_010, deadRows: 800, prefixesComplete: false });
    expect(reads.sort()).toEqual(sets.map((s) => s.id).sort());
    await svc.sync(); // the same catalog: nothing read
    expect(reads.length).toBe(3);
    storeDown = false;
    setSets([...sets]); // the catalog's view was recomputed
    await svc.sync();
    // The invalid manifest is not read again; the one the store could not give is.
    expect(reads.slice(3)).toEqual([sets[2].id]);
    expect(svc.statistics(sets[2].id)).not.toBeNull();
  });

  it("keeps statistics of drills that passed before they were kept per set", async () => {
    const seed: CatalogSet = { ...lifeboat(4), id: "seed-2024-12-04_00-00-00", format: "seed", objects: [] };
    const { svc } = setup({
      sets: [seed],
      manifests: ok,
      drills: { state: () => null, passed: () => [{ setId: seed.id, stats: KINE, finishedAt: "2024-12-05T00:00:00.000Z" }] },
    });
    await svc.sync();
    expect(svc.statistics(seed.id)).toMatchObject({ from: "drill", takenAt: "2024-12-04T00:00:00.000Z", recordedAt: "2024-12-05T00:00:00.000Z" });
  });

  it("explains sets flagged for their size only, and offers Verify now only when an agent could run it", async () => {
    const gapOnly = { ...lifeboat(6), anomalies: [{ kind: "set" as const, type: "gap" as const, level: "warning" as const, reason: "a night missed" }] };
    const seed: CatalogSet = { ...lifeboat(7, true), id: "seed-2024-12-07_00-00-00", format: "seed", objects: [] };
    const { svc } = setup({ sets: [seed, gapOnly, lifeboat(5)], manifests: ok });
    expect(await svc.explain(gapOnly)).toEqual({ explanation: null, needsDrill: null });
    const { explanation, needsDrill } = await svc.explain(seed);
    expect(explanation!.causes[0]).toMatchObject({ kind: "unknown", text: expect.stringContaining("LIFEBOAT_AGENT_URL") });
    expect(needsDrill).toBeNull();
  });
});
