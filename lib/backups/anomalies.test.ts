import { describe, it, expect } from "vitest";
import { detectAnomalies, thresholdProblems, DEFAULT_THRESHOLDS, median } from "./anomalies";
import { groupObjects, type BackupSet } from "./grouping";
import { seedObjectNames, lifeboatObjectNames, twoCopyLifeboatObjectNames, formatStamp } from "../contracts/backup-names";
import { sizeChartData } from "./series";

const DAY = 86_400_000;
const start = Date.UTC(2024, 10, 1, 0, 0, 7);

/** Seed sets, one a night, whose file archive and logical backup have these sizes. */
function nightly(sizes: number[], opts: { skip?: number[]; first?: number } = {}): BackupSet[] {
  const objs = [];
  let night = 0;
  for (const size of sizes) {
    while (opts.skip?.includes(night)) night++;
    const names = seedObjectNames(new Date((opts.first ?? start) + night * DAY));
    objs.push({ key: names.fileArchive, size, lastModified: new Date() }, { key: names.logical, size: Math.round(size * 1.1), lastModified: new Date() });
    night++;
  }
  return groupObjects(objs).sets;
}

// The incident: a steady ~50 MB series, then 53.89 MB, 80.51 MB, 228.3 MB.
const STEADY_MB = [50.1, 49.8, 50.3, 50.0, 49.9, 50.2, 50.4, 50.1, 49.7, 50.0];
const INCIDENT_MB = [...STEADY_MB, 53.89, 80.51, 228.3];
const lastNight = (sets: BackupSet[]) => sets[0].time.getTime();

describe("detectAnomalies on the incident's series", () => {
  for (const [unit, scale] of [
    ["MB", 1_000_000],
    ["KB", 1_000],
  ] as const) {
    it(`flags 80.51 ${unit} as a growth warning and 228.3 ${unit} as critical, and nothing else`, () => {
      const sets = nightly(INCIDENT_MB.map((mb) => Math.round(mb * scale)));
      const flags = detectAnomalies(sets, { now: new Date(lastNight(sets) + 3_600_000) });
      const [s228, s80, s54] = sets;
      expect([...flags.keys()].sort()).toEqual([s228.id, s80.id].sort());
      expect(flags.get(s54.id)).toBeUndefined();
      const warn = flags.get(s80.id)!.filter((a) => a.kind === "file-archive");
      expect(warn).toHaveLength(1);
      expect(warn[0]).toMatchObject({ type: "growth", level: "warning" });
      expect(warn[0].ratio).toBeCloseTo(80.51 / 50.1, 2);
      expect(warn[0].reason).toBe(`80.51 ${unit} is 1.61× the median of the previous 7 file archives (50.10 ${unit}): unusual growth.`);
      const crit = flags.get(s228.id)!.filter((a) => a.kind === "file-archive");
      expect(crit[0]).toMatchObject({ type: "growth", level: "critical" });
      expect(crit[0].ratio).toBeGreaterThan(4);
      expect(crit[0].reason).toContain(`228.3 ${unit} is 4.`);
      // The logical backups carry the same story, in their own series.
      expect(
        flags
          .get(s228.id)!
          .map((a) => `${a.kind}:${a.level}`)
          .sort(),
      ).toEqual(["file-archive:critical", "logical:critical"]);
    });
  }

  it("gives the same ratios in KB and MB", () => {
    const mb = nightly(INCIDENT_MB.map((x) => Math.round(x * 1_000_000)));
    const kb = nightly(INCIDENT_MB.map((x) => Math.round(x * 1_000)));
    const now = new Date(lastNight(mb) + 1000);
    const r = (sets: BackupSet[]) => [...detectAnomalies(sets, { now }).values()].flat().map((a) => [a.kind, a.type, a.level, a.ratio!.toFixed(2)]);
    expect(r(kb)).toEqual(r(mb));
  });
});

describe("detectAnomalies edge cases", () => {
  const now = (sets: BackupSet[]) => ({ now: new Date(lastNight(sets) + 1000) });

  it("judges with fewer than 7 previous backups once there are 3, using what there is", () => {
    const sets = nightly([100, 100, 100, 240]);
    const a = detectAnomalies(sets, now(sets)).get(sets[0].id)!;
    expect(a.find((x) => x.kind === "file-archive")).toMatchObject({ type: "growth", level: "critical", ratio: 2.4 });
    expect(a[0].reason).toContain("previous 3 file archives");
  });

  it("does not judge with only 2 previous backups", () => {
    const sets = nightly([100, 100, 1000]);
    expect(detectAnomalies(sets, now(sets)).size).toBe(0);
  });

  it("raises nothing for equal sizes", () => {
    const sets = nightly(Array(30).fill(4096));
    expect(detectAnomalies(sets, now(sets)).size).toBe(0);
  });

  it("raises nothing for one set only", () => {
    const sets = nightly([5000]);
    expect(detectAnomalies(sets, { now: new Date(lastNight(sets) + 30 * DAY) }).size).toBe(0);
  });

  it("flags a zero-size object as critical, with history or without", () => {
    const alone = nightly([0]);
    const a = detectAnomalies(alone, now(alone)).get(alone[0].id)!;
    expect(a.map((x) => `${x.kind}:${x.type}:${x.level}`)).toEqual(["file-archive:shrink:critical", "logical:shrink:critical"]);
    const one = groupObjects([{ key: "state_2024-12-01_00-00-00.db.gpg", size: 0, lastModified: new Date() }]).sets;
    expect(detectAnomalies(one, now(one)).get(one[0].id)).toEqual([
      { kind: "logical", type: "shrink", level: "critical", ratio: 0, reason: "The logical backup is empty (0 B): the backup job stored nothing." },
    ]);
    const later = nightly([50, 50, 50, 50, 50, 50, 50, 0]);
    const b = detectAnomalies(later, now(later)).get(later[0].id)!;
    expect(b.filter((x) => x.kind === "file-archive")).toHaveLength(1); // empty, not also "0× the median"
  });

  it("flags a shrink to half or less as critical", () => {
    const sets = nightly([50, 50, 50, 50, 50, 50, 50, 20, 30]);
    const flags = detectAnomalies(sets, now(sets));
    expect(flags.get(sets[1].id)!.find((x) => x.kind === "file-archive")).toMatchObject({ type: "shrink", level: "critical", ratio: 0.4 });
    expect(flags.get(sets[0].id)).toBeUndefined(); // 30 is 0.6× the median 50
  });

  it("uses ≥ for growth and shrink boundaries", () => {
    const warn = nightly([100, 100, 100, 125]);
    expect(
      detectAnomalies(warn, now(warn))
        .get(warn[0].id)!
        .find((x) => x.kind === "file-archive")?.level,
    ).toBe("warning");
    const crit = nightly([100, 100, 100, 200]);
    expect(
      detectAnomalies(crit, now(crit))
        .get(crit[0].id)!
        .find((x) => x.kind === "file-archive")?.level,
    ).toBe("critical");
    const half = nightly([100, 100, 100, 50]);
    expect(
      detectAnomalies(half, now(half))
        .get(half[0].id)!
        .find((x) => x.kind === "file-archive")?.type,
    ).toBe("shrink");
    const fine = nightly([100, 100, 100, 124]);
    expect(detectAnomalies(fine, now(fine)).size).toBe(0);
  });

  it("flags the set after a missed night as a gap warning", () => {
    const sets = nightly(Array(10).fill(100), { skip: [6] });
    const flags = detectAnomalies(sets, now(sets));
    const afterGap = sets.find((s) => s.time.getTime() === start + 7 * DAY)!;
    expect([...flags.keys()]).toEqual([afterGap.id]);
    expect(flags.get(afterGap.id)).toEqual([
      {
        kind: "set",
        type: "gap",
        level: "warning",
        ratio: 2,
        reason: "2 days since the previous backup, 2.00× the usual interval (24 h): a backup was probably missed.",
      },
    ]);
  });

  it("flags the newest set as stale when it is older than 1.5× the usual interval", () => {
    const sets = nightly(Array(10).fill(100));
    expect(detectAnomalies(sets, { now: new Date(lastNight(sets) + 35 * 3_600_000) }).size).toBe(0);
    const flags = detectAnomalies(sets, { now: new Date(lastNight(sets) + 37 * 3_600_000) });
    expect(flags.get(sets[0].id)).toEqual([
      {
        kind: "set",
        type: "stale",
        level: "critical",
        ratio: 1.542,
        reason: "The newest backup is 37 h old, 1.54× the usual interval (24 h): backups may have stopped.",
      },
    ]);
  });

  it("judges staleness by when the store received the newest backup when its name is dated ahead (a host clock that ran ahead)", () => {
    // Nightly sets received a minute after their names; on night 3 the host's clock ran 6 years ahead
    // for one backup, then was fixed; after night 9 backups stopped. Five days later the newest set by
    // name is the one "from 2030": it must not make the store look fresh forever.
    const objects = [];
    for (let i = 0; i < 10; i++) {
      const received = new Date(start + i * DAY + 60_000);
      for (const key of Object.values(lifeboatObjectNames(new Date(start + i * DAY)))) objects.push({ key, size: 100, lastModified: received });
    }
    const ahead = new Date(Date.UTC(2030, 10, 4, 0, 0, 7));
    for (const key of Object.values(lifeboatObjectNames(ahead))) objects.push({ key, size: 100, lastModified: new Date(start + 3 * DAY + 60_000) });
    const sets = groupObjects(objects).sets;
    expect(sets[0].time).toEqual(ahead);
    const stale = (now: number) => (detectAnomalies(sets, { now: new Date(now) }).get(sets[0].id) ?? []).filter((a) => a.type === "stale");
    expect(stale(start + 9 * DAY + 3_600_000)).toEqual([]);
    expect(stale(start + 14 * DAY)).toEqual([
      expect.objectContaining({ level: "critical", reason: expect.stringMatching(/^The newest backup was received 5 days ago/) }),
    ]);
  });

  it("does not call a short history stale", () => {
    const sets = nightly([100, 100, 100]);
    expect(detectAnomalies(sets, { now: new Date(lastNight(sets) + 10 * DAY) }).size).toBe(0);
  });

  it("never mixes seed and Lifeboat series", () => {
    // Seed sets at midnight, Lifeboat sets at noon, very different sizes: no gap, growth or shrink.
    const objs = [];
    for (let i = 0; i < 10; i++) {
      const seed = seedObjectNames(new Date(start + i * DAY));
      objs.push({ key: seed.fileArchive, size: 50_000_000, lastModified: new Date() }, { key: seed.logical, size: 55_000_000, lastModified: new Date() });
      const lb = twoCopyLifeboatObjectNames(new Date(start + i * DAY + DAY / 2));
      objs.push(
        { key: lb.logical, size: 3_000_000, lastModified: new Date() },
        { key: lb.files, size: 3_100_000, lastModified: new Date() },
        { key: lb.token, size: 120, lastModified: new Date() },
        { key: lb.manifest, size: 2_000 + i * 300, lastModified: new Date() }, // manifests are not a size series
      );
    }
    const sets = groupObjects(objs).sets;
    expect(detectAnomalies(sets, { now: new Date(lastNight(sets) + 1000) }).size).toBe(0);
  });

  it("keeps the database series running across the change to the one-copy layout; the secrets archive starts its own series", () => {
    // Ten nights in the two-copy layout, then six in the one-copy layout: the database archive is the
    // same kind throughout; the server archive (~3 MB) ends and the secrets archive (~3 KB) begins.
    const lb = (i: number) => new Date(start + i * DAY);
    const objs = [];
    for (let i = 0; i < 16; i++) {
      const two = twoCopyLifeboatObjectNames(lb(i));
      const one = lifeboatObjectNames(lb(i));
      const db = i === 15 ? 6_500_000 : 3_000_000 + (i % 3) * 10_000; // the last night doubles: it must be flagged
      objs.push({ key: one.logical, size: db, lastModified: new Date() }, { key: one.manifest, size: 2_000, lastModified: new Date() });
      if (i < 10) objs.push({ key: two.files, size: db + 100_000, lastModified: new Date() }, { key: two.token, size: 120, lastModified: new Date() });
      else objs.push({ key: one.secrets, size: 3_000 + (i % 2) * 50, lastModified: new Date() });
    }
    const sets = groupObjects(objs).sets;
    expect(sets.every((s) => s.missing.length === 0)).toBe(true);
    const flags = detectAnomalies(sets, { now: new Date(lastNight(sets) + 1000) });
    // Nothing at the change (a secrets archive 1000× smaller than the server archive is not a shrink)...
    expect([...flags.keys()]).toEqual([sets[0].id]);
    // ...and the growth on the last night is judged against the database series before AND after the change.
    expect(flags.get(sets[0].id)).toEqual([expect.objectContaining({ kind: "lifeboat-logical", type: "growth", level: "critical" })]);
    expect(flags.get(sets[0].id)![0].reason).toContain("previous 7 logical backups");
    const chart = sizeChartData(sets, flags);
    expect(chart.series.map((s) => s.kind)).toEqual(["lifeboat-logical", "lifeboat-files", "lifeboat-token", "lifeboat-secrets"]);
    expect(chart.series[0].sizes.every((x) => x !== null)).toBe(true);
  });

  it("judges intervals and staleness between backups only: a Lifeboat upload that died part way (no manifest) hides neither staleness nor a missed night, and its sizes are still judged", () => {
    // Five nights in the two-copy layout (night 3 without its token archive: still a backup, its
    // manifest is there), five in the one-copy layout, then night 10 dies part way: a database
    // archive twice the usual size and the secrets archive, no manifest.
    const at = (i: number) => new Date(start + i * DAY);
    const set = (i: number, opts: { db?: number; manifest?: boolean } = {}) => {
      const db = opts.db ?? 3_000_000 + (i % 3) * 10_000;
      const objs = [{ key: lifeboatObjectNames(at(i)).logical, size: db, lastModified: new Date() }];
      if (i < 5) {
        const two = twoCopyLifeboatObjectNames(at(i));
        objs.push({ key: two.files, size: db + 100_000, lastModified: new Date() });
        if (i !== 3) objs.push({ key: two.token, size: 120, lastModified: new Date() });
      } else objs.push({ key: lifeboatObjectNames(at(i)).secrets, size: 3_000, lastModified: new Date() });
      if (opts.manifest !== false) objs.push({ key: lifeboatObjectNames(at(i)).manifest, size: 2_000, lastModified: new Date() });
      return objs;
    };
    const history = Array.from({ length: 10 }, (_, i) => set(i)).flat();
    const debris = set(10, { db: 6_500_000, manifest: false });
    const id = (i: number) => `lifeboat-${formatStamp(at(i))}`;

    const stopped = groupObjects([...history, ...debris]).sets;
    expect(stopped.find((s) => s.id === id(10))!.missing).toEqual(["manifest"]);
    expect(stopped.find((s) => s.id === id(3))!.missing).toEqual(["lifeboat-token"]);
    // 37 h after the last backup (13 h after the debris): stale, on the newest backup.
    const flags = detectAnomalies(stopped, { now: new Date(at(9).getTime() + 37 * 3_600_000) });
    expect([...flags.keys()].sort()).toEqual([id(9), id(10)].sort());
    expect(flags.get(id(9))).toEqual([expect.objectContaining({ kind: "set", type: "stale", level: "critical", ratio: 1.542 })]);
    expect(flags.get(id(10))).toEqual([expect.objectContaining({ kind: "lifeboat-logical", type: "growth", level: "critical" })]);

    // Night 11 is a backup again: two days after the previous backup, a gap.
    const resumed = groupObjects([...history, ...debris, ...set(11)]).sets;
    const after = detectAnomalies(resumed, { now: new Date(at(11).getTime() + 3_600_000) });
    expect([...after.keys()].sort()).toEqual([id(10), id(11)].sort());
    expect(after.get(id(11))).toEqual([expect.objectContaining({ kind: "set", type: "gap", level: "warning", ratio: 2 })]);
    expect(after.get(id(10))).toEqual([expect.objectContaining({ kind: "lifeboat-logical", type: "growth", level: "critical" })]);
  });

  it("judges only sizes over a listing still under way (partial): its newest set is not the store's", () => {
    const sets = nightly([100, 100, 100, 100, 100, 240], { skip: [4] });
    const late = { now: new Date(lastNight(sets) + 10 * DAY) };
    const types = (flags: Map<string, unknown[]>) => [...flags.values()].flat().map((a) => (a as { type: string }).type);
    expect(types(detectAnomalies(sets, late)).sort()).toEqual(["gap", "growth", "growth", "stale"]);
    expect(types(detectAnomalies(sets, { ...late, partial: true }))).toEqual(["growth", "growth"]);
  });

  it("honours configured thresholds", () => {
    const sets = nightly(INCIDENT_MB.map((x) => Math.round(x * 1000)));
    const flags = detectAnomalies(sets, { thresholds: { growthWarning: 1.05, growthCritical: 5 }, now: new Date(lastNight(sets)) });
    const level = (i: number) => flags.get(sets[i].id)?.find((a) => a.kind === "file-archive")?.level;
    expect([level(2), level(1), level(0)]).toEqual(["warning", "warning", "warning"]);
    const gaps = nightly(Array(10).fill(100), { skip: [6] });
    expect(detectAnomalies(gaps, { thresholds: { gapWarning: 2.5 }, now: new Date(lastNight(gaps)) }).size).toBe(0);
    const window = detectAnomalies(sets, { thresholds: { window: 3 }, now: new Date(lastNight(sets)) });
    expect(window.get(sets[0].id)![0].reason).toContain("previous 3 file archives");
  });

  it("reports inconsistent thresholds by field", () => {
    expect(thresholdProblems(DEFAULT_THRESHOLDS)).toEqual([]);
    const p = thresholdProblems({ ...DEFAULT_THRESHOLDS, growthWarning: 3, shrinkCritical: 1.2, minHistory: 9 });
    expect(p.join("\n")).toMatch(/growthCritical \(2\) must be at least growthWarning \(3\)/);
    expect(p.join("\n")).toMatch(/shrinkCritical must be below 1/);
    expect(p.join("\n")).toMatch(/minHistory/);
  });
});

describe("median and chart columns", () => {
  it("median of odd and even lists", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });

  it("sizeChartData puts one x per set, a series per kind and marks flagged points", () => {
    const sets = nightly(INCIDENT_MB.map((x) => Math.round(x * 1000)));
    const flags = detectAnomalies(sets, { now: new Date(lastNight(sets)) });
    const chart = sizeChartData(sets, flags);
    expect(chart.times).toHaveLength(13);
    expect(chart.times[0]).toBeLessThan(chart.times[12]);
    expect(chart.series.map((s) => s.kind)).toEqual(["file-archive", "logical"]);
    expect(chart.series[0].sizes[12]).toBe(228300);
    expect(chart.flags.filter((f) => f.level === "critical").map((f) => [f.index, f.kind])).toEqual([
      [12, "file-archive"],
      [12, "logical"],
    ]);
    expect(chart.setIds[12]).toBe(sets[0].id);
  });
});
