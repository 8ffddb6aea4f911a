import { describe, expect, it } from "vitest";
import type { Anomaly, CatalogSet, Verification } from "../contracts/catalog";
import type { SetStats } from "./contracts";
import { anomalyOnset, proposeBackup, stuckCompactionNote } from "./proposal";

const day = (n: number) => new Date(Date.UTC(2024, 11, n)).toISOString();

function set(
  n: number,
  opts: {
    anomalies?: Anomaly["type"][];
    level?: Anomaly["level"];
    v?: Verification["state"];
    reason?: string;
    format?: "seed" | "lifeboat";
    missing?: CatalogSet["missing"];
  } = {},
): CatalogSet {
  const format = opts.format ?? "seed";
  const id = `${format}-2024-12-${String(n).padStart(2, "0")}_00-00-00`;
  return {
    id,
    format,
    timestamp: day(n),
    objects: [],
    missing: opts.missing ?? [],
    anomalies: (opts.anomalies ?? []).map((type) => ({ kind: "file-archive", type, level: opts.level ?? "warning", reason: `${type} on day ${n}` })),
    verification: opts.v ? { state: opts.v, at: day(n), reason: opts.reason ?? null } : undefined,
  };
}

const stats = (lag: number): SetStats => ({
  from: "manifest",
  currentRevision: 50_000,
  rowCount: 40_000,
  liveKeys: 900,
  compactionLag: lag,
  fileSize: 1e7,
  k3sVersion: "v1.31.4+k3s1",
  host: "pi-master",
  topPrefixesByRows: [],
});

describe("proposeBackup", () => {
  it("proposes the newest verified set before the incident's growth began (80.51 MB warning, 228.3 MB critical)", () => {
    // Days 1–15 steady, 16 = 53.89 (no flag), 17 = 80.51 (warning), 18 = 228.3 (critical).
    const sets = [
      ...Array.from({ length: 15 }, (_, i) => set(i + 1, { v: i + 1 >= 12 ? "verified" : undefined })),
      set(16, { v: "verified" }),
      set(17, { anomalies: ["growth"], v: "verified" }),
      set(18, { anomalies: ["growth"], level: "critical", v: "verified" }),
    ];
    const r = proposeBackup(sets);
    expect(r.proposal?.setId).toBe("seed-2024-12-16_00-00-00");
    expect(r.proposal?.reason).toBe("Newest verified backup before the size anomaly began on 2024-12-17 00:00 UTC: 2024-12-16 00:00 UTC.");
    expect(r.proposal?.anomalyBegan).toBe(day(17));
    expect(r.proposal?.skipped.map((s) => s.setId)).toEqual(["seed-2024-12-18_00-00-00", "seed-2024-12-17_00-00-00"]);
    expect(r.proposal?.skipped[0].why).toBe("size flag: growth (critical)");
  });

  it("passes over unverified and failed sets for the newest verified one, saying why", () => {
    const sets = [set(10, { v: "verified" }), set(11, { v: "failed", reason: "wrong passphrase" }), set(12), set(13, { v: "running" })];
    const r = proposeBackup(sets);
    expect(r.proposal?.setId).toBe("seed-2024-12-10_00-00-00");
    expect(r.proposal?.reason).toBe("Newest verified backup: 2024-12-10 00:00 UTC.");
    expect(r.proposal?.skipped).toEqual([
      { setId: "seed-2024-12-11_00-00-00", why: "its restore drill failed: wrong passphrase" },
      { setId: "seed-2024-12-13_00-00-00", why: "its restore drill is running" },
      { setId: "seed-2024-12-12_00-00-00", why: "not verified by a restore drill yet" },
    ]);
  });

  it("falls back to the newest set whose drill did not fail, and says step 4 verifies it", () => {
    const r = proposeBackup([set(1), set(2, { v: "failed" }), set(3)]);
    expect(r.proposal?.setId).toBe("seed-2024-12-03_00-00-00");
    expect(r.proposal?.reason).toBe("Newest backup: 2024-12-03 00:00 UTC.");
    expect(r.proposal?.warnings[0]).toMatch(/No backup in question has passed a restore drill yet.*Step 4 verifies it/);
  });

  it("mentions a backup taken while compaction was stuck", () => {
    const sets = [set(1, { format: "lifeboat", v: "verified" }), set(2, { format: "lifeboat", v: "verified" })];
    const r = proposeBackup(sets, (id) => (id.endsWith("02_00-00-00") ? stats(21_000) : stats(1_200)));
    expect(r.proposal?.setId).toBe("lifeboat-2024-12-02_00-00-00");
    expect(r.proposal?.warnings.join(" ")).toContain("taken while kine's compaction was stuck (compaction lag 21,000 revisions): it still restores");
    expect(proposeBackup(sets, () => stats(1_200)).proposal?.warnings).toEqual([]);
  });

  it("skips a Lifeboat set without its manifest (an upload that never finished)", () => {
    const r = proposeBackup([set(1, { format: "lifeboat", v: "verified" }), set(2, { format: "lifeboat", missing: ["manifest"] })]);
    expect(r.proposal?.setId).toBe("lifeboat-2024-12-01_00-00-00");
    expect(r.proposal?.skipped[0]).toEqual({ setId: "lifeboat-2024-12-02_00-00-00", why: "incomplete: the agent never finished uploading it (no manifest)" });
  });

  it("treats a shrink (a truncated upload) like growth: proposes the set before it", () => {
    const r = proposeBackup([set(1, { v: "verified" }), set(2, { v: "verified" }), set(3, { anomalies: ["shrink"], level: "critical", v: "verified" })]);
    expect(r.proposal?.setId).toBe("seed-2024-12-02_00-00-00");
    expect(r.proposal?.reason).toContain("before the size anomaly began on 2024-12-03 00:00 UTC");
  });

  it("ignores old anomalies that are not among the newest sets, and gap flags", () => {
    const sets = [
      set(1, { anomalies: ["growth"], v: "verified" }),
      ...Array.from({ length: 8 }, (_, i) => set(i + 2, { v: "verified" })),
      set(10, { anomalies: ["gap"], v: "verified" }),
    ];
    const r = proposeBackup(sets);
    expect(r.proposal?.setId).toBe("seed-2024-12-10_00-00-00");
    expect(r.proposal?.anomalyBegan).toBeNull();
  });

  it("ranks a set named ahead of when it arrived (a host clock that ran ahead) by when the store received it", () => {
    const ahead: CatalogSet = {
      ...set(1, { v: "verified", format: "lifeboat" }),
      id: "lifeboat-2030-01-01_00-00-00",
      timestamp: "2030-01-01T00:00:00.000Z",
      objects: [{ key: "lifeboat_2030-01-01_00-00-00_manifest.json", kind: "manifest", size: 2000, lastModified: "2024-12-03T00:01:00.000Z" }],
    };
    const sets = [1, 2, 3, 4, 5].map((n) => set(n, { v: "verified" }));
    expect(proposeBackup([...sets, ahead]).proposal?.setId).toBe(sets[4].id);
    // Night 4 and 5 failed their drills: the set received on night 3 is the newest that did not.
    const failed = [...sets.slice(0, 3), set(4, { v: "failed" }), set(5, { v: "failed" }), ahead];
    expect(proposeBackup(failed).proposal?.setId).toBe(ahead.id);
  });

  it("has nothing to propose without sets, or when everything before the anomaly failed", () => {
    expect(proposeBackup([]).none).toBe("There are no backup sets in the store.");
    const r = proposeBackup([set(1, { v: "failed" }), set(2, { anomalies: ["growth"] })]);
    expect(r.proposal).toBeUndefined();
    expect(r.none).toMatch(/Every backup older than the size anomaly \(which began on 2024-12-02 00:00 UTC\) failed/);
  });
});

describe("anomalyOnset", () => {
  it("walks back through consecutive flagged sets to where the episode began", () => {
    const sets = [
      set(5, { anomalies: ["growth"] }),
      set(4, { anomalies: ["growth"] }),
      set(3, { anomalies: ["growth"] }),
      set(2),
      set(1, { anomalies: ["growth"] }),
    ];
    expect(anomalyOnset(sets)?.id).toBe("seed-2024-12-03_00-00-00");
    expect(anomalyOnset([set(2), set(1)])).toBeNull();
  });
});

describe("stuckCompactionNote", () => {
  it("is null for a healthy lag or unknown statistics", () => {
    expect(stuckCompactionNote(null)).toBeNull();
    expect(stuckCompactionNote(stats(10_000))).toBeNull();
    expect(stuckCompactionNote(stats(10_001))).toMatch(/compaction lag 10,001 revisions/);
  });
});
