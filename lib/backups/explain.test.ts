import { describe, expect, it } from "vitest";
import type { KeyPrefixStat } from "../contracts/manifest";
import { Explanation, type SetStatistics } from "../contracts/set-statistics";
import { baselineOf, compactionAdvancedAround, explainable, explainSet, explanationFirstLine, isStalled, type ExplainedSet } from "./explain";
import { setStatisticsFrom } from "./statistics";
import { kineStatsBeforeIssue14 } from "./testing/kine-stats";

/** Plain statistics: a healthy set unless told otherwise. */
function stats(id: string, takenAt: string, o: Partial<SetStatistics> = {}): SetStatistics {
  const prefixes: KeyPrefixStat[] = o.prefixes ?? [
    { prefix: "/registry/leases", rows: 600, bytes: 420_000, liveKeys: 7 },
    { prefix: "/registry/events", rows: 400, bytes: 380_000, liveKeys: 200 },
    { prefix: "/registry/pods", rows: 10, bytes: 50_000, liveKeys: 10 },
  ];
  const rowCount = o.rowCount ?? prefixes.reduce((n, p) => n + p.rows, 0);
  return {
    setId: id,
    from: "drill",
    takenAt,
    recordedAt: takenAt,
    fileSize: 1_200_000,
    pageSize: 4096,
    pageCount: 293,
    freelistCount: 0,
    rowCount,
    liveKeys: prefixes.reduce((n, p) => n + (p.liveKeys ?? 0), 0),
    currentRevision: 11_679,
    compactRevision: 10_679,
    compactionLag: 1_000,
    deadRows: 800,
    prefixesComplete: true,
    subPrefixes: [],
    compactRevisionWrittenAt: null,
    ...o,
    prefixes,
  };
}

const set = (id: string, time: string, statistics: SetStatistics | null, flagged = false, missing?: ExplainedSet["missing"]): ExplainedSet => ({
  id,
  time,
  flagged,
  statistics,
  missing,
});

/** A week of healthy nightly sets at noon (10,000 revisions a day, compaction 1,000 behind), compaction stalled after 12-15. */
function incidentSeries(): ExplainedSet[] {
  const out: ExplainedSet[] = [];
  for (let d = 10; d <= 15; d++) {
    const at = `2024-12-${d}T12:00:00.000Z`;
    const current = 11_679 - (15 - d) * 10_000;
    out.push(set(`seed-2024-12-${d}`, at, stats(`seed-2024-12-${d}`, at, { currentRevision: current, compactRevision: current - 1_000 })));
  }
  const flaggedAt = "2024-12-18T12:00:00.000Z";
  const grown = stats("seed-2024-12-18", flaggedAt, {
    currentRevision: 165_679,
    compactRevision: 10_679,
    compactionLag: 155_000,
    deadRows: 117_000,
    fileSize: 80_000_000,
    prefixes: [
      { prefix: "/registry/leases", rows: 81_600, bytes: 77_420_000, liveKeys: 7 },
      { prefix: "/registry/events", rows: 41_400, bytes: 38_380_000, liveKeys: 200 },
      { prefix: "/registry/pods", rows: 14, bytes: 60_000, liveKeys: 10 },
    ],
    subPrefixes: [
      { prefix: "/registry/leases/kube-system", rows: 80_100, bytes: 76_000_000, liveKeys: 4 },
      { prefix: "/registry/leases/kube-node-lease", rows: 1_500, bytes: 1_420_000, liveKeys: 3 },
      { prefix: "/registry/events/apps", rows: 41_400, bytes: 38_380_000, liveKeys: 200 },
    ],
  });
  out.push(set("seed-2024-12-16", "2024-12-16T12:00:00.000Z", null, true), set("seed-2024-12-18", flaggedAt, grown, true));
  return out;
}

/** The explanation of a set taken on 2024-12-11 with `o`, against a healthy baseline of 2024-12-10. */
function againstBaseline(o: Partial<SetStatistics>) {
  const [a, b] = ["2024-12-10T00:00:00.000Z", "2024-12-11T00:00:00.000Z"];
  const grown = stats("grown", b, o);
  return explainSet({ set: set("grown", b, grown, true), series: [set("base", a, stats("base", a)), set("grown", b, grown, true)] });
}

describe("explainSet", () => {
  it("names a stalled compaction, since when, and the prefixes that grew, with their numbers and what to do", () => {
    const series = incidentSeries();
    const e = explainSet({ set: series.at(-1)!, series });
    expect(Explanation.parse(e)).toEqual(e);
    expect(e.baselineSetId).toBe("seed-2024-12-15");
    expect(e.causes.map((c) => c.kind)).toEqual(["compaction-stalled", "prefix-growth", "prefix-growth"]);
    const [stall, leases, events] = e.causes;
    // The 12-14 set had another compact revision, the 12-15 set this one (12-16 has no statistics).
    expect(stall.text).toContain(
      "kine's compaction last advanced at revision 10,679, about 2024-12-15 (after the set of 2024-12-14 12:00 UTC, before the set of 2024-12-15 12:00 UTC); 155,000 revisions have been kept since",
    );
    expect(stall.text).toContain("95 % of its 123,014 rows are old versions and tombstones");
    expect(stall.rowsDelta).toBe(117_000 - 800);
    expect(stall.bytesDelta).toBe(80_000_000 - 1_200_000);
    for (const advice of ["journalctl -u k3s", "systemctl restart k3s", "pi:pi", "df -h"]) expect(stall.text).toContain(advice);
    expect(leases).toMatchObject({ prefix: "/registry/leases", rowsDelta: 81_000, bytesDelta: 77_000_000 });
    expect(leases.text).toContain("/registry/leases +81,000 rows, +77 MB (most under /registry/leases/kube-system: 80,100 rows), with no new live keys");
    expect(events).toMatchObject({ prefix: "/registry/events", rowsDelta: 41_000, bytesDelta: 38_000_000 });
    expect(e.verdict).toMatch(
      /^Compaction stalled: kine's compaction has not advanced since revision 10,679 \(about 2024-12-15\), so 155,000 revisions are kept; \/registry\/leases \+81,000 rows, \+77 MB\. Also: \/registry\/events \+41,000 rows, \+38 MB\.$/,
    );
    expect(explanationFirstLine(e)).toBe(
      "Compaction stalled: kine's compaction has not advanced since revision 10,679 (about 2024-12-15), so 155,000 revisions are kept; /registry/leases +81,000 rows, +77 MB.",
    );
  });

  it("says what the live database shows, still stalled or recovered since", () => {
    const series = incidentSeries();
    const stalled = explainSet({
      set: series.at(-1)!,
      series,
      live: { takenAt: "2024-12-18T14:05:00Z", currentRevision: 170_000, compactRevision: 10_679, compactionLag: 159_321 },
    });
    expect(stalled.causes[0].text).toContain(
      "The live database (read by the agent at 2024-12-18 14:05 UTC) is at revision 170,000 with 159,321 revisions kept since revision 10,679: compaction is still stalled.",
    );
    const recovered = explainSet({
      set: series.at(-1)!,
      series,
      live: { takenAt: "2024-12-18T14:05:00Z", currentRevision: 170_000, compactRevision: 169_000, compactionLag: 1_000 },
    });
    expect(recovered.causes[0].text).toContain("Since this backup compaction has advanced");
    expect(recovered.causes[0].text).toContain("the next backup should be smaller");
  });

  it("tells when compaction last advanced from the series, else from the database, and when kine never compacted", () => {
    const at = "2024-12-18T12:00:00.000Z";
    const stalled = { compactRevision: 10_679, currentRevision: 165_679, compactionLag: 155_000 };
    const told = stats("s", at, { ...stalled, compactRevisionWrittenAt: "2024-12-15T09:30:00.000Z" });
    expect(compactionAdvancedAround(told, [told])).toEqual({
      text: "after 2024-12-15 09:30 UTC",
      detail: "after 2024-12-15 09:30 UTC, when that revision was written (the oldest set with statistics, of 2024-12-18 12:00 UTC, already had it)",
    });
    const points = [
      { takenAt: "2024-12-01T00:00:00.000Z", currentRevision: 5_000, compactRevision: 4_000 },
      { takenAt: "2024-12-05T00:00:00.000Z", currentRevision: 11_679, compactRevision: 10_679 },
    ];
    // The series wins over the database: it tells when compaction ran, not when the revision was written.
    expect(compactionAdvancedAround(told, points)?.text).toBe("between 2024-12-01 and 2024-12-05");
    expect(compactionAdvancedAround(stats("s", at, stalled), points.slice(1))).toEqual({
      text: "before 2024-12-05",
      detail: "before 2024-12-05 (the oldest set with statistics already had it)",
    });
    // A restore back to an older database: the sets before it are another history.
    expect(compactionAdvancedAround(stats("s", at, stalled), [{ ...points[0], compactRevision: 90_000 }, points[1]])?.text).toBe("before 2024-12-05");
    const never = stats("s", at, { compactRevision: 0, currentRevision: 50_000, compactionLag: 50_000 });
    const e = explainSet({ set: set("s", at, never, true), series: [] });
    expect(e.causes[0].kind).toBe("compaction-stalled");
    expect(e.causes[0].text).toContain("kine's compaction has never run on this database: all 50,000 revisions are kept");
    // No baseline: what is missing is said too.
    expect(e.causes.at(-1)).toMatchObject({ kind: "unknown" });
    expect(e.causes.at(-1)!.text).toContain("no older unflagged set");
  });

  it("calls more objects with compaction working normal growth", () => {
    const e = againstBaseline({
      currentRevision: 12_800,
      compactRevision: 11_700,
      compactionLag: 1_100,
      fileSize: 1_900_000,
      prefixes: [
        { prefix: "/registry/leases", rows: 610, bytes: 425_000, liveKeys: 7 },
        { prefix: "/registry/events", rows: 410, bytes: 385_000, liveKeys: 200 },
        { prefix: "/registry/pods", rows: 52, bytes: 700_000, liveKeys: 50 },
        { prefix: "/registry/configmaps", rows: 12, bytes: 40_000, liveKeys: 12 },
      ],
    });
    expect(e.causes.map((c) => c.kind)).toEqual(["normal-growth"]);
    expect(e.verdict).toBe("This looks like normal growth: 40 new pods, 12 new configmaps.");
    expect(e.causes[0].text).toContain("live keys 217 → 269");
  });

  it("calls events written in a loop runaway events, with the namespace to look in", () => {
    const e = againstBaseline({
      currentRevision: 60_000,
      compactRevision: 58_000,
      compactionLag: 2_000,
      prefixes: [
        { prefix: "/registry/leases", rows: 600, bytes: 420_000, liveKeys: 7 },
        { prefix: "/registry/events", rows: 41_400, bytes: 38_380_000, liveKeys: 40_200 },
        { prefix: "/registry/pods", rows: 10, bytes: 50_000, liveKeys: 10 },
      ],
      subPrefixes: [{ prefix: "/registry/events/ci", rows: 40_900, bytes: 37_900_000, liveKeys: 40_000 }],
    });
    expect(e.causes[0]).toMatchObject({ kind: "prefix-growth", prefix: "/registry/events", rowsDelta: 41_000, bytesDelta: 38_000_000 });
    expect(e.causes[0].text).toContain("40,000 new events; most of them under /registry/events/ci (40,900 rows)");
    expect(e.causes[0].text).toContain("kubectl get events -n ci --sort-by=.lastTimestamp");
    expect(e.verdict).toBe("Runaway events: /registry/events +41,000 rows, +38 MB while compaction keeps up.");
  });

  it("finds free pages and dead rows", () => {
    const e = againstBaseline({ freelistCount: 2_000, pageCount: 2_300, fileSize: 2_300 * 4096 });
    expect(e.causes[0]).toMatchObject({ kind: "freelist", bytesDelta: 2_000 * 4096 });
    expect(e.causes[0].text).toContain("8.2 MB of the 9.4 MB database file are free pages (+8.2 MB)");
    expect(e.causes[0].text).toContain("VACUUM");
    const d = againstBaseline({
      currentRevision: 21_000,
      compactRevision: 12_000,
      compactionLag: 9_000,
      deadRows: 8_500,
      rowCount: 10_000,
      prefixes: [{ prefix: "/registry/leases", rows: 10_000, bytes: 900_000, liveKeys: 7 }],
    });
    expect(d.causes.map((c) => c.kind)).toContain("dead-rows");
    expect(d.causes.find((c) => c.kind === "dead-rows")).toMatchObject({ rowsDelta: 7_700 });
  });

  it("says which statistics are missing and how to get them", () => {
    const a = "2024-12-10T00:00:00.000Z";
    const b = "2024-12-11T00:00:00.000Z";
    const undrilled = explainSet({
      set: set("seed-new", b, null, true, { why: "not-drilled", agentConfigured: true }),
      series: [set("seed-old", a, stats("seed-old", a))],
    });
    expect(undrilled.baselineSetId).toBe("seed-old");
    expect(undrilled.causes).toEqual([{ kind: "unknown", text: expect.stringContaining("Run a drill (Verify now)") }]);
    expect(undrilled.verdict).toBe("Cannot tell why yet: this set has no database statistics yet; a restore drill reads them (Verify now).");
    const noAgent = explainSet({ set: set("x", b, null, true, { why: "not-drilled", agentConfigured: false }), series: [] });
    expect(noAgent.causes[0].text).toContain("LIFEBOAT_AGENT_URL");
    const failed = explainSet({ set: set("x", b, null, true, { why: "drill-failed", reason: "integrity_check failed." }), series: [] });
    expect(failed.causes[0].text).toContain("its restore drill failed (integrity_check failed)");
    const grown = stats("seed-new", b, { fileSize: 3_000_000 });
    const baselineMissing = explainSet({
      set: set("seed-new", b, grown, true),
      series: [set("seed-old", a, null, false, { why: "drill-pending" })],
    });
    expect(baselineMissing.causes.at(-1)!.kind).toBe("unknown");
    expect(baselineMissing.causes.at(-1)!.text).toContain(
      "The set it is compared with, seed-old (2024-12-10), has no database statistics yet: its restore drill is queued",
    );
    expect(baselineMissing.verdict).toBe("Cannot tell why yet: the set it is compared with (seed-old) has no database statistics.");
  });

  it("compares only the prefixes both sides know when a manifest lists just the largest ones", () => {
    const a = "2024-12-10T00:00:00.000Z";
    const b = "2024-12-11T00:00:00.000Z";
    const old = setStatisticsFrom(kineStatsBeforeIssue14(), { setId: "old", from: "manifest", takenAt: a, recordedAt: a });
    expect(old.prefixesComplete).toBe(false);
    expect(old.prefixes.map((p) => p.prefix)).toEqual(["/registry/leases", "/registry/events"]);
    const grown = stats("new", b, {
      currentRevision: 60_000,
      compactRevision: 58_000,
      compactionLag: 2_000,
      prefixes: [
        { prefix: "/registry/leases", rows: 600, bytes: 420_000, liveKeys: 7 },
        { prefix: "/registry/events", rows: 5_400, bytes: 4_380_000, liveKeys: 200 },
        { prefix: "/registry/secrets", rows: 9_000, bytes: 9_000_000, liveKeys: 10 },
      ],
    });
    const e = explainSet({ set: set("new", b, grown, true), series: [set("old", a, old)] });
    // /registry/secrets is not in the old manifest's lists: its change is unknown, so it is not named.
    expect(e.causes.map((c) => c.prefix)).toEqual(["/registry/events"]);
    expect(e.causes[0]).toMatchObject({ rowsDelta: 5_000, bytesDelta: 4_000_000 });
  });
});

describe("isStalled", () => {
  const base = stats("b", "2024-12-01T00:00:00.000Z", { currentRevision: 32_500, compactRevision: 30_494, compactionLag: 2_006 });
  it("also when the lag is modest but the compact revision did not move while more than 1,000 revisions were written", () => {
    const next = { currentRevision: 33_779, compactRevision: 30_494, compactionLag: 3_285 };
    expect(isStalled(stats("s", "2024-12-02T00:00:00.000Z", next), base)).toBe(true);
    // Minutes apart, a busy kine may simply not have compacted yet.
    expect(isStalled(stats("s", "2024-12-01T00:10:00.000Z", next), base)).toBe(false);
    // It moved: healthy.
    expect(isStalled(stats("s", "2024-12-02T00:00:00.000Z", { ...next, compactRevision: 32_779, compactionLag: 1_000 }), base)).toBe(false);
    // Few writes since: nothing to compact yet.
    expect(isStalled(stats("s", "2024-12-02T00:00:00.000Z", { currentRevision: 33_000, compactRevision: 30_494, compactionLag: 2_506 }), base)).toBe(false);
  });

  it("only size flags are explained", () => {
    expect(explainable([{ type: "gap" }, { type: "stale" }])).toBe(false);
    expect(explainable([{ type: "gap" }, { type: "growth" }])).toBe(true);
    expect(explainable([{ type: "shrink" }])).toBe(true);
  });
});

describe("baselineOf", () => {
  it("is the newest unflagged set older than the flagged one", () => {
    const series = [
      set("a", "2024-12-01T00:00:00Z", null),
      set("b", "2024-12-02T00:00:00Z", null),
      set("c", "2024-12-03T00:00:00Z", null, true),
      set("d", "2024-12-04T00:00:00Z", null, true),
      set("e", "2024-12-05T00:00:00Z", null),
    ];
    expect(baselineOf(series[3], series)?.id).toBe("b");
    expect(baselineOf(series[0], series)).toBeNull();
  });
});
