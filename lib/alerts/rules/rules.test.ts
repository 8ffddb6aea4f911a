import { describe, expect, it } from "vitest";
import type { ContinuousStatus, LogDay } from "../../contracts/continuous";
import { evaluateRules, planTransitions, type OpenAlert } from "./evaluate";
import type { Verification } from "../../contracts/catalog";
import { DEFAULT_RULE_CONFIG, type AlertCandidate, type CatalogInput, type RuleOutcome, type RuleSet } from "./types";
import { DAY, T0, agentInput, alertInput, catalogInput, healthReport, kineStats, lifeboatHistory, ruleSets, seedHistory } from "../testing/fixtures";

const NORMAL = [54, 53, 55, 54, 56, 53, 54, 55].map((x) => x * 1e6);
const cfg = DEFAULT_RULE_CONFIG;
const firing = (outcomes: RuleOutcome[]) => outcomes.flatMap((o) => o.firing);
const keys = (outcomes: RuleOutcome[]) => firing(outcomes).map((a) => `${a.key} ${a.severity}`);
/** The morning after the newest of `n` nightly sets. */
const morning = (n: number) => new Date(T0 + (n - 1) * DAY + 8 * 3_600_000);

describe("backup rules over the catalog", () => {
  it("a normal history fires nothing", () => {
    const now = morning(NORMAL.length);
    expect(keys(evaluateRules(alertInput(now, catalogInput(ruleSets(seedHistory(NORMAL), now))), cfg))).toEqual([]);
  });

  it("the incident's growth fires one critical growth alert per kind, naming the newest set and the ratio", () => {
    const sizes = [...NORMAL, 228e6];
    const now = morning(sizes.length);
    const out = evaluateRules(alertInput(now, catalogInput(ruleSets(seedHistory(sizes), now))), cfg);
    expect(keys(out)).toEqual(["LifeboatBackupGrowth:file-archive critical", "LifeboatBackupGrowth:logical critical"]);
    const a = firing(out)[0];
    expect(a.setId).toBe("seed-2024-12-09_00-00-00");
    expect(a.path).toBe("/backups/seed-2024-12-09_00-00-00");
    expect(a.summary).toMatch(/^The newest file archive \(seed-2024-12-09_00-00-00\) grew: 228\.0 MB is 4\.\d+× the median of the previous 7 file archives/);
  });

  it("a warning-level growth is a warning alert (the flag's level is the severity)", () => {
    const sizes = [...NORMAL, 80e6];
    const now = morning(sizes.length);
    expect(keys(evaluateRules(alertInput(now, catalogInput(ruleSets(seedHistory(sizes), now))), cfg))).toEqual([
      "LifeboatBackupGrowth:file-archive warning",
      "LifeboatBackupGrowth:logical warning",
    ]);
  });

  it("only the NEWEST set of a kind counts: a normal set after the growth fires nothing", () => {
    const sizes = [...NORMAL, 228e6, 55e6];
    const now = morning(sizes.length);
    expect(keys(evaluateRules(alertInput(now, catalogInput(ruleSets(seedHistory(sizes), now))), cfg))).toEqual([]);
  });

  it("an empty backup is a critical shrink", () => {
    const sizes = [...NORMAL, 0];
    const now = morning(sizes.length);
    expect(keys(evaluateRules(alertInput(now, catalogInput(ruleSets(seedHistory(sizes), now))), cfg))).toEqual([
      "LifeboatBackupShrink:file-archive critical",
      "LifeboatBackupShrink:logical critical",
    ]);
  });

  it("a missed night is a gap warning; a week without backups is stale (critical)", () => {
    const objects = seedHistory(NORMAL).concat(seedHistory([55e6], T0 + (NORMAL.length + 1) * DAY));
    const after = new Date(T0 + (NORMAL.length + 1) * DAY + 3_600_000);
    expect(keys(evaluateRules(alertInput(after, catalogInput(ruleSets(objects, after))), cfg))).toEqual(["LifeboatBackupGap:seed warning"]);
    const later = new Date(T0 + (NORMAL.length + 8) * DAY);
    const out = evaluateRules(alertInput(later, catalogInput(ruleSets(objects, later))), cfg);
    expect(keys(out)).toEqual(["LifeboatBackupGap:seed warning", "LifeboatBackupStale critical"]);
    expect(firing(out)[1].summary).toMatch(/^No new backup: the newest backup \(seed-2024-12-10_00-00-00\) is 7 days old, 7\.00× the usual interval \(24 h\)/);
  });

  it("an incomplete Lifeboat set (no manifest yet) is not the newest backup", () => {
    const objects = lifeboatHistory(NORMAL).concat(lifeboatHistory([300e6], T0 + NORMAL.length * DAY).filter((o) => !o.key.endsWith("manifest.json")));
    const now = morning(NORMAL.length + 1);
    expect(keys(evaluateRules(alertInput(now, catalogInput(ruleSets(objects, now))), cfg))).toEqual([]);
  });

  it("what a Lifeboat upload that died part way left (no manifest) hides neither LifeboatBackupStale nor LifeboatBackupGap", () => {
    const debris = (night: number) => lifeboatHistory([55e6], T0 + night * DAY).filter((o) => !o.key.endsWith("manifest.json"));
    // A week after the last backup, with the debris of the next night newest: stale.
    const stopped = lifeboatHistory(NORMAL).concat(debris(NORMAL.length));
    const later = new Date(T0 + (NORMAL.length + 7) * DAY);
    const out = evaluateRules(alertInput(later, catalogInput(ruleSets(stopped, later))), cfg);
    expect(keys(out)).toEqual(["LifeboatBackupStale critical"]);
    expect(firing(out)[0].setId).toBe("lifeboat-2024-12-08_00-00-00");
    // A night that died part way, then a backup again: a gap before it.
    const resumed = stopped.concat(lifeboatHistory([55e6], T0 + (NORMAL.length + 1) * DAY));
    const now = morning(NORMAL.length + 2);
    expect(keys(evaluateRules(alertInput(now, catalogInput(ruleSets(resumed, now))), cfg))).toEqual(["LifeboatBackupGap:lifeboat warning"]);
  });

  it("a listing still under way (a cold start's pages so far) judges no set: those rules keep their alerts' state, the store's rule still fires", () => {
    // The oldest nights and a growth among them, read much later: stale, growth and a failed drill if judged.
    const later = new Date(T0 + 30 * DAY);
    const sets = ruleSets(seedHistory([...NORMAL, 228e6]), later);
    const failed = new Map<string, Verification>([[sets[0].id, { state: "failed", at: "x", reason: "bad" }]]);
    const error = { failure: "auth", message: "s3: list: AccessDenied", at: later.toISOString() };
    expect(keys(evaluateRules(alertInput(later, catalogInput(sets, { verifications: failed })), cfg))).toHaveLength(4);
    const out = evaluateRules(alertInput(later, catalogInput(sets, { partial: true, verifications: failed, error })), cfg);
    expect(keys(out)).toEqual(["LifeboatCatalogUnavailable critical"]);
    const unknown = ["LifeboatBackupGrowth", "LifeboatBackupShrink", "LifeboatBackupGap", "LifeboatBackupStale", "LifeboatRestoreDrillFailed"];
    expect(out.filter((o) => !o.known).map((o) => o.name)).toEqual(unknown);
  });

  it("growth of a Lifeboat set says what grew when the manifests are known, and carries the explanation's first line", () => {
    const sizes = [...NORMAL, 228e6];
    const now = morning(sizes.length);
    const sets = ruleSets(lifeboatHistory(sizes), now);
    const manifests = [
      {
        setId: sets[0].id,
        timestamp: sets[0].timestamp,
        stats: kineStats({ rowCount: 126_000, compactionLag: 98_000, topPrefixesByBytes: [{ prefix: "/registry/leases", rows: 81_000, bytes: 77e6 }] }),
      },
      { setId: sets[1].id, timestamp: sets[1].timestamp, stats: kineStats() },
    ];
    const out = firing(evaluateRules(alertInput(now, catalogInput(sets, { manifests })), cfg)).filter((a) => a.name === "LifeboatBackupGrowth");
    expect(out.map((a) => a.key)).toEqual(["LifeboatBackupGrowth:lifeboat-logical", "LifeboatBackupGrowth:lifeboat-files"]);
    expect(out[0].summary).toContain(
      "What grew: kine rows 20,000 → 126,000, compaction lag 1,000 → 98,000 revisions, most of it under /registry/leases (+76.60 MB).",
    );
    const explained = firing(
      evaluateRules(alertInput(now, catalogInput(sets, { manifests, explanationLine: (id) => (id === sets[0].id ? "Leases grew 190×." : null) })), cfg),
    );
    expect(explained[0].summary).toMatch(/^Leases grew 190×\. — The newest logical backup \(lifeboat-2024-12-09_00-00-00\) grew: 228\.0 MB/);
  });

  it("a failed drill of the newest drilled set fires; a newer verified set resolves it", () => {
    const now = morning(NORMAL.length);
    const sets = ruleSets(seedHistory(NORMAL), now);
    const failed = new Map<string, Verification>([[sets[1].id, { state: "failed", at: "x", reason: "gpg: decryption failed: Bad session key." }]]);
    const out = firing(evaluateRules(alertInput(now, catalogInput(sets, { verifications: failed })), cfg));
    expect(out.map((a) => `${a.key} ${a.severity} ${a.setId}`)).toEqual([`LifeboatRestoreDrillFailed:seed critical ${sets[1].id}`]);
    expect(out[0].summary).toContain("Bad session key");
    const fixed = new Map<string, Verification>([...failed, [sets[0].id, { state: "verified", at: "y", reason: "ok" }]]);
    expect(keys(evaluateRules(alertInput(now, catalogInput(sets, { verifications: fixed })), cfg))).toEqual([]);
  });

  it("a store listed whole that holds no complete set fires LifeboatBackupStale: empty, another path, or only unfinished uploads", () => {
    const now = new Date(T0);
    const listed = new Date(T0 - 60_000).toISOString();
    const fired = (sets: RuleSet[], over: Partial<CatalogInput> = {}) =>
      evaluateRules(alertInput(now, catalogInput(sets, { refreshedAt: listed, ...over })), cfg).find((o) => o.name === "LifeboatBackupStale")!;
    const empty = fired([]);
    expect(empty.firing).toHaveLength(1);
    expect(empty.firing[0]).toMatchObject({ severity: "critical", setId: null, path: "/backups" });
    expect(empty.firing[0].summary).toBe(
      "The store holds no complete backup set: backups have not run yet, or they go to another bucket or AWS_S3_PATH than the dashboard reads.",
    );
    // Uploads that never finished (no manifest) count as no backup.
    const unfinished = ruleSets(
      lifeboatHistory([1_000_000, 1_000_000]).filter((o) => !o.key.endsWith("_manifest.json")),
      now,
    );
    expect(fired(unfinished).firing[0]?.summary).toMatch(/^The store holds no complete backup set \(2 incomplete uploads, none with all its objects\)/);
    // Never listed yet, or a cold start's listing under way: no verdict; a failing store: LifeboatCatalogUnavailable speaks instead.
    expect(fired([], { refreshedAt: null }).firing).toEqual([]);
    expect(fired([], { partial: true })).toMatchObject({ known: false, firing: [] });
    expect(fired([], { error: { failure: "unreachable", message: "connect ECONNREFUSED", at: now.toISOString() } })).toMatchObject({
      known: false,
      firing: [],
    });
    // One complete set: the usual stale rule decides (it is fresh here).
    expect(fired(ruleSets(lifeboatHistory([1_000_000]), now)).firing).toEqual([]);
  });

  it("a store that refuses credentials fires at once; an unreachable one only after the grace period", () => {
    const now = new Date(T0);
    const auth = { failure: "auth", message: "s3: list: AccessDenied", at: now.toISOString() };
    const ok = new Date(T0 - 60_000).toISOString();
    expect(keys(evaluateRules(alertInput(now, catalogInput([], { error: auth, refreshedAt: ok })), cfg))).toEqual(["LifeboatCatalogUnavailable critical"]);
    const down = { ...auth, failure: "unreachable", message: "connect ECONNREFUSED" };
    expect(keys(evaluateRules(alertInput(now, catalogInput([], { error: down, refreshedAt: ok })), cfg))).toEqual([]);
    const long = new Date(T0 - 11 * 60_000).toISOString();
    expect(keys(evaluateRules(alertInput(now, catalogInput([], { error: down, refreshedAt: long })), cfg))).toEqual(["LifeboatCatalogUnavailable critical"]);
    expect(keys(evaluateRules(alertInput(now, catalogInput([], { error: down, refreshedAt: null })), cfg))).toEqual(["LifeboatCatalogUnavailable critical"]);
  });
});

describe("agent and health rules", () => {
  const now = new Date("2024-12-20T08:00:00Z");
  const empty = catalogInput([]);
  /** An agent's protection line, shipping and a few seconds behind. */
  const logLine: ContinuousStatus = {
    enabled: true,
    problem: null,
    intervalSeconds: 10,
    generation: "20241212T100000Z",
    generationReason: "first start",
    baseSetId: "lifeboat-2024-12-12_10-00-00",
    shippedRevision: 123456,
    shippedAt: now.toISOString(),
    lagSeconds: 8,
    segments: 40,
    bytes: 90_000,
    pendingSegments: 0,
    dailyBytes: [],
    dailyAnomalies: [],
  };

  it("a healthy agent fires nothing", () => {
    expect(keys(evaluateRules(alertInput(now, empty, agentInput()), cfg))).toEqual([]);
  });

  it("a failed backup fires until a later one succeeds", () => {
    const failed = { lastSuccessAt: "2024-12-19T00:01:00Z", lastFailureAt: "2024-12-20T00:01:00Z", lastFailureError: "The backup store failed: AccessDenied." };
    const out = firing(evaluateRules(alertInput(now, empty, agentInput({ backups: failed })), cfg));
    expect(out.map((a) => a.key)).toEqual(["LifeboatBackupJobFailed"]);
    expect(out[0].summary).toBe("The agent's backup at 2024-12-20 00:01 UTC failed: The backup store failed: AccessDenied.");
    expect(keys(evaluateRules(alertInput(now, empty, agentInput({ backups: { ...failed, lastSuccessAt: "2024-12-20T02:00:00Z" } })), cfg))).toEqual([]);
  });

  it("an unreachable agent fires only after LIFEBOAT_AGENT_DOWN_MINUTES, and the health rules keep their state meanwhile", () => {
    const gone = agentInput({ healthFresh: false, unreachableSince: new Date(now.getTime() - 5 * 60_000).toISOString(), lastError: "connection refused." });
    let out = evaluateRules(alertInput(now, empty, gone), cfg);
    expect(keys(out)).toEqual([]);
    expect(out.filter((o) => !o.known).map((o) => o.name)).toEqual([
      "LifeboatAgentStateDirUnusable",
      "LifeboatDatabaseCheckFailed",
      "LifeboatOwnerModeDrift",
      "LifeboatCompactionLag",
      "LifeboatWalTooLarge",
      "LifeboatRestoreSpaceLow",
      "LifeboatLogLag",
      "LifeboatLogGrowth",
      "LifeboatLogShrink",
    ]);
    out = evaluateRules(alertInput(now, empty, { ...gone, unreachableSince: new Date(now.getTime() - 11 * 60_000).toISOString() }), cfg);
    expect(firing(out).map((a) => `${a.key} ${a.node}`)).toEqual(["LifeboatAgentUnreachable k3s-server"]);
    expect(firing(out)[0].summary).toMatch(/^The agent at http:\/\/k3s-server:7070 has not answered for 11 min: connection refused\./);
  });

  it("an agent that answers but cannot run its health check (health_unavailable: its state directory) fires at once; an answer resolves it", () => {
    const broken = agentInput({
      healthFresh: false,
      lastErrorCode: "health_unavailable",
      lastError:
        "The health check could not run: ENOTDIR: not a directory, mkdir '/var/lib/rancher/k3s/lifeboat/health'. Check that LIFEBOAT_STATE_DIR is writable.",
    });
    const out = evaluateRules(alertInput(now, empty, broken), cfg);
    expect(firing(out).map((a) => `${a.key} ${a.severity} ${a.node}`)).toEqual(["LifeboatAgentStateDirUnusable critical k3s-server"]);
    expect(firing(out)[0].summary).toMatch(
      /^The agent at http:\/\/k3s-server:7070 answers but cannot use its state directory: The health check could not run: ENOTDIR/,
    );
    // The database's alerts keep their state: nothing was checked.
    expect(out.find((o) => o.name === "LifeboatDatabaseCheckFailed")?.known).toBe(false);
    expect(evaluateRules(alertInput(now, empty, agentInput({})), cfg).find((o) => o.name === "LifeboatAgentStateDirUnusable")).toEqual({
      name: "LifeboatAgentStateDirUnusable",
      known: true,
      firing: [],
    });
  });

  it("the log falling behind fires beyond six intervals (at least a minute); a few seconds behind, or the log off, is quiet", () => {
    const withLine = (over: Partial<ContinuousStatus>) => agentInput({ health: healthReport({ continuous: { ...logLine, ...over } }) });
    expect(keys(evaluateRules(alertInput(now, empty, withLine({})), cfg))).toEqual([]);
    expect(keys(evaluateRules(alertInput(now, empty, withLine({ lagSeconds: 59 })), cfg))).toEqual([]);
    expect(keys(evaluateRules(alertInput(now, empty, withLine({ enabled: false, lagSeconds: null })), cfg))).toEqual([]);
    const out = firing(evaluateRules(alertInput(now, empty, withLine({ lagSeconds: 300, pendingSegments: 25, problem: "Segments wait in the spool." })), cfg));
    expect(out.map((a) => a.key)).toEqual(["LifeboatLogLag"]);
    expect(out[0].summary).toMatch(
      /^Continuous protection is 5 min behind \(revision 123,456 is the newest in the store; 25 segments wait in the agent's spool\)\. Segments wait/,
    );
    // A longer interval moves the limit: six intervals of 60 s.
    expect(keys(evaluateRules(alertInput(now, empty, withLine({ intervalSeconds: 60, lagSeconds: 300 })), cfg))).toEqual([]);
  });

  it("the log's daily bytes: growth and shrink of the last whole day, growth already past a threshold today, with the dashboard's thresholds", () => {
    const day = (d: string, mb: number, state: LogDay["state"] = "ended"): LogDay => ({ day: d, bytes: Math.round(mb * 1e6), segments: 8640, state });
    const steady = [day("2024-12-12", 0.4, "generation-start"), ...["13", "14", "15", "16", "17", "18", "19"].map((d) => day(`2024-12-${d}`, 5.9))];
    const withDays = (days: LogDay[], over: Partial<ContinuousStatus> = {}) =>
      agentInput({ health: healthReport({ continuous: { ...logLine, dailyBytes: days, ...over } }) });
    // Steady days, and today's 1 MB so far: quiet (the day in progress is never a shrink).
    expect(keys(evaluateRules(alertInput(now, empty, withDays([...steady, day("2024-12-20", 1, "in-progress")])), cfg))).toEqual([]);
    // The last whole day at 18.2 MB: critical growth, the flag's reason as the summary.
    let out = firing(evaluateRules(alertInput(now, empty, withDays([...steady.slice(0, -1), day("2024-12-19", 18.2)])), cfg));
    expect(out.map((a) => `${a.key} ${a.severity}`)).toEqual(["LifeboatLogGrowth critical"]);
    expect(out[0].summary).toMatch(
      /^Continuous protection: 18\.20 MB shipped on 2024-12-19 is 3\.08× the median of the previous 6 days \(5\.90 MB\): kine is writing far more/,
    );
    // 7.5 MB is a warning by default, nothing with LIFEBOAT_GROWTH_WARNING=1.5.
    const warm = withDays([...steady, day("2024-12-20", 7.5, "in-progress")]);
    expect(firing(evaluateRules(alertInput(now, empty, warm), cfg)).map((a) => `${a.key} ${a.severity}`)).toEqual(["LifeboatLogGrowth warning"]);
    expect(keys(evaluateRules(alertInput(now, empty, warm), { ...cfg, anomalyThresholds: { ...cfg.anomalyThresholds, growthWarning: 1.5 } }))).toEqual([]);
    // The last whole day at 2 MB: a critical shrink.
    out = firing(evaluateRules(alertInput(now, empty, withDays([...steady.slice(0, -1), day("2024-12-19", 2)])), cfg));
    expect(out.map((a) => `${a.key} ${a.severity}`)).toEqual(["LifeboatLogShrink critical"]);
    // The log off: quiet; the agent's report stale: both keep their state.
    expect(keys(evaluateRules(alertInput(now, empty, withDays([...steady.slice(0, -1), day("2024-12-19", 2)], { enabled: false })), cfg))).toEqual([]);
    const stale = evaluateRules(alertInput(now, empty, { ...withDays([]), healthFresh: false }), cfg);
    expect(stale.filter((o) => o.name.startsWith("LifeboatLog") && !o.known).map((o) => o.name)).toEqual([
      "LifeboatLogLag",
      "LifeboatLogGrowth",
      "LifeboatLogShrink",
    ]);
  });

  it("a damaged database, drifted owner, stuck compaction, large WAL and a full disk each fire", () => {
    const h = healthReport({
      quickCheck: { ran: true, ok: false, messages: ["*** in database main ***", "Page 7: btreeInitPage() returns error code 11"], millis: 3, at: null },
      kine: kineStats({ compactionLag: 98_000 }),
      files: { ...healthReport().files, wal: { path: "/x/state.db-wal", exists: true, bytes: 250e6 } },
      ownership: {
        expected: { uid: 0, gid: 0 },
        entries: [
          {
            ...healthReport().ownership.entries[0],
            uid: 1000,
            gid: 1000,
            ok: false,
            problem: "owned by 1000:1000, expected 0:0",
            fix: "chown 0:0 /var/lib/rancher/k3s/server/db/state.db",
          },
        ],
      },
      disk: { ...healthReport().disk, freeBytes: 5e6, enoughForStaging: false },
    });
    const out = firing(evaluateRules(alertInput(now, empty, agentInput({ health: h })), cfg));
    expect(out.map((a) => `${a.key} ${a.severity}`)).toEqual([
      "LifeboatDatabaseCheckFailed critical",
      "LifeboatOwnerModeDrift warning",
      "LifeboatCompactionLag warning",
      "LifeboatWalTooLarge warning",
      "LifeboatRestoreSpaceLow warning",
    ]);
    expect(out[1].summary).toBe(
      "Owner or mode of k3s's files on k3s-server drifted from LIFEBOAT_OWNER (0:0): owned by 1000:1000, expected 0:0. Fix: chown 0:0 /var/lib/rancher/k3s/server/db/state.db.",
    );
    expect(out[0].path).toBe("/alerts/LifeboatDatabaseCheckFailed");
  });

  it("a database that opens and passes quick_check but holds no kine table (emptied, or not k3s's) fails the database check", () => {
    const h = healthReport({ kine: null, kineError: "There is no kine table in this database." });
    const out = firing(evaluateRules(alertInput(now, empty, agentInput({ health: h })), cfg));
    expect(out.map((a) => `${a.key} ${a.severity}`)).toEqual(["LifeboatDatabaseCheckFailed critical"]);
    expect(out[0].summary).toContain("There is no kine table in this database.");
  });

  it("while a restore is pending, a missing database is the restore's doing: the health alerts keep their state", () => {
    const h = healthReport({ pendingRestoreId: "r-1", database: { ...healthReport().database, opened: false, error: "missing" } });
    const out = evaluateRules(alertInput(now, empty, agentInput({ health: h })), cfg);
    expect(keys(out)).toEqual([]);
    expect(out.find((o) => o.name === "LifeboatDatabaseCheckFailed")?.known).toBe(false);
  });

  it("compaction lag rising over the last three manifests fires even below the threshold; small wobbles do not", () => {
    const m = (lag: number, i: number) => ({ setId: `lifeboat-${i}`, timestamp: "x", stats: kineStats({ compactionLag: lag }) });
    const rising = [m(45_000, 3), m(23_000, 2), m(1_200, 1)];
    expect(keys(evaluateRules(alertInput(now, catalogInput([], { manifests: rising }), agentInput()), cfg))).toEqual(["LifeboatCompactionLag warning"]);
    const wobble = [m(1_300, 3), m(1_150, 2), m(1_100, 1)];
    expect(keys(evaluateRules(alertInput(now, catalogInput([], { manifests: wobble }), agentInput()), cfg))).toEqual([]);
  });

  it("without an agent configured, agent alerts resolve (known, nothing firing)", () => {
    const out = evaluateRules(alertInput(now, empty, agentInput({ configured: false, health: null })), cfg);
    expect(out.filter((o) => o.name.match(/Agent|Database|Owner|Wal|Space|Job/)).every((o) => o.known && o.firing.length === 0)).toBe(true);
  });
});

describe("planTransitions", () => {
  const cand = (key: string, severity: "warning" | "critical" = "critical", summary = "s"): AlertCandidate => ({
    key,
    name: key.split(":")[0] as AlertCandidate["name"],
    severity,
    summary,
    setId: null,
    node: null,
    path: "/x",
  });
  const open = (id: number, c: AlertCandidate, clearSince: string | null = null): OpenAlert => ({ id, ...c, clearSince });
  const NOW = new Date("2024-12-18T08:00:00.000Z");
  const ago = (min: number) => new Date(NOW.getTime() - min * 60_000).toISOString();
  const hold = { now: NOW, resolveAfterMs: DEFAULT_RULE_CONFIG.resolveAfterMs };

  // Hysteresis changed when "gone" resolves: the first clear evaluation only starts the wait
  // (clearing); the alert resolves once it has been clear for resolveAfterMs (15 min by default).
  it("starts new alerts, leaves unchanged ones alone (no storm), resolves what has been gone long enough", () => {
    const firing = [
      { name: "LifeboatBackupGrowth" as const, known: true, firing: [cand("LifeboatBackupGrowth:logical"), cand("LifeboatBackupGrowth:lifeboat-files")] },
    ];
    const first = planTransitions([open(1, cand("LifeboatBackupGrowth:logical")), open(2, cand("LifeboatBackupGrowth:file-archive"))], firing, hold);
    expect(first.start.map((c) => c.key)).toEqual(["LifeboatBackupGrowth:lifeboat-files"]);
    expect(first.resolve).toEqual([]);
    expect(first.clearing.map((a) => a.id)).toEqual([2]);
    expect(first.update).toEqual([]);
    expect(first.escalate).toEqual([]);
    const later = planTransitions([open(1, cand("LifeboatBackupGrowth:logical")), open(2, cand("LifeboatBackupGrowth:file-archive"), ago(15))], firing, hold);
    expect(later.resolve.map((a) => a.id)).toEqual([2]);
    expect(later.clearing).toEqual([]);
  });

  it("hysteresis: clear for less than resolveAfterMs keeps firing; firing again starts the wait over; 0 resolves at once", () => {
    const quiet = [{ name: "LifeboatWalTooLarge" as const, known: true, firing: [] }];
    const loud = [{ name: "LifeboatWalTooLarge" as const, known: true, firing: [cand("LifeboatWalTooLarge", "warning")] }];
    const t = planTransitions([open(1, cand("LifeboatWalTooLarge", "warning"), ago(14))], quiet, hold);
    expect(t.resolve).toEqual([]);
    expect(t.clearing.map((a) => a.id)).toEqual([1]);
    const again = planTransitions([open(1, cand("LifeboatWalTooLarge", "warning"), ago(14))], loud, hold);
    expect(again.refiring.map((a) => a.id)).toEqual([1]);
    expect([again.start, again.escalate, again.update, again.resolve]).toEqual([[], [], [], []]);
    expect(planTransitions([open(1, cand("LifeboatWalTooLarge", "warning"))], quiet, { now: NOW, resolveAfterMs: 0 }).resolve.map((a) => a.id)).toEqual([1]);
  });

  it("keeps alerts of a rule that could not judge", () => {
    const t = planTransitions([open(1, cand("LifeboatWalTooLarge", "warning"), ago(60))], [{ name: "LifeboatWalTooLarge", known: false, firing: [] }], hold);
    expect(t.resolve).toEqual([]);
    expect(t.clearing).toEqual([]);
    expect(t.refiring).toEqual([]);
  });

  it("escalates warning → critical, updates words quietly", () => {
    const t = planTransitions(
      [open(1, cand("LifeboatBackupGrowth:logical", "warning")), open(2, cand("LifeboatWalTooLarge", "warning", "old"))],
      [
        { name: "LifeboatBackupGrowth", known: true, firing: [cand("LifeboatBackupGrowth:logical", "critical")] },
        { name: "LifeboatWalTooLarge", known: true, firing: [cand("LifeboatWalTooLarge", "warning", "new")] },
      ],
      hold,
    );
    expect(t.escalate.map((e) => e.id)).toEqual([1]);
    expect(t.update.map((e) => [e.id, e.alert.summary])).toEqual([[2, "new"]]);
  });
});
