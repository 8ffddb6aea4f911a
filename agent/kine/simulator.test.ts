import { describe, it, expect } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { generateKineDb } from "./generator";
import { openKineDb } from "./schema";
import { KineSimulator, LIVE_EVENTS_CAP } from "./simulator";

const tmp = () => mkdtempSync(path.join(tmpdir(), "lifeboat-sim-"));

describe("KineSimulator", () => {
  it("a healthy cluster stays the same size: events expire, so live keys do not grow", () => {
    const db = openKineDb(path.join(tmp(), "state.db"));
    const sim = new KineSimulator(db, { seed: 5 });
    db.transaction(() => sim.seed())();
    const liveEvents = db
      .prepare("SELECT COUNT(*) FROM kine WHERE id IN (SELECT MAX(id) FROM kine WHERE name LIKE '/registry/events/%' GROUP BY name) AND deleted = 0")
      .pluck();
    const rows = db.prepare("SELECT COUNT(*) FROM kine").pluck();
    const samples: { round: number; rows: number; events: number }[] = [];
    // Rounds of ~5 minutes (150 ticks of 2 s), each followed by kine's compaction, like the generator's "healthy".
    for (let round = 1; round <= 80; round++) {
      db.transaction(() => {
        for (let i = 0; i < 150; i++) sim.tick();
      })();
      sim.compact();
      if (round % 20 === 0) samples.push({ round, rows: rows.get() as number, events: liveEvents.get() as number });
    }
    for (const s of samples) expect(s.events).toBeLessThanOrEqual(LIVE_EVENTS_CAP);
    expect(samples[0].events).toBe(LIVE_EVENTS_CAP);
    // Before the fix, live events grew by ~0.4 per tick: 2,323 → 5,794 rows from round 20 to 80.
    expect(samples[samples.length - 1].rows / samples[0].rows).toBeLessThan(1.05);
    db.close();
  });
});

describe("generateKineDb with a simulator whose healthy size is steady", () => {
  it("stuck-after-healthy: compacted first, then stuck until the target, even far above the healthy size", () => {
    const file = path.join(tmp(), "state.db");
    const g = generateKineDb(file, { targetBytes: 8_000_000, compaction: "stuck-after-healthy", seed: 3 });
    expect(g.bytes).toBeGreaterThanOrEqual(8_000_000);
    const db = new Database(file, { readonly: true });
    const compactRev = db.prepare("SELECT prev_revision FROM kine WHERE name = 'compact_rev_key'").pluck().get() as number;
    db.close();
    expect(compactRev).toBeGreaterThan(0);
    expect(g.currentRevision - compactRev).toBeGreaterThan(3000); // the lag climbed once compaction stopped
  });

  it("healthy: ends at the steady size when the target lies above it", () => {
    const file = path.join(tmp(), "state.db");
    const g = generateKineDb(file, { targetBytes: 50_000_000, compaction: "healthy", seed: 4 });
    expect(g.bytes).toBeLessThan(6_000_000);
    expect(g.rows).toBeLessThan(2500);
  });
});
