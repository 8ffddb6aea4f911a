import { describe, it, expect } from "vitest";
import { flatness, soakVerdict, type JobOutcome, type ProcSample } from "./soak-verdict";

/** The soak's pass/fail rules (bench/soak.ts runs the real thing; these are its arithmetic). */

const MB = 1024 ** 2;
/** A sample every 5 s for `minutes`, RSS and fds from functions of time (s). */
function run(minutes: number, rss: (t: number) => number, fds: (t: number) => number = () => 25): ProcSample[] {
  const out: ProcSample[] = [];
  for (let t = 0; t <= minutes * 60; t += 5) out.push({ atMs: t * 1000, rssBytes: rss(t), fds: fds(t) });
  return out;
}
const good = (kind: JobOutcome["kind"], n: number): JobOutcome[] => Array.from({ length: n }, () => ({ kind, ok: true, note: "", ms: 1000 }));
const jobs = [...good("backup", 30), ...good("drill", 30), ...good("damaged drill", 30), ...good("health", 180)];

describe("soak verdict", () => {
  it("flat after warm-up passes, with jobs in flight at some samples", () => {
    // Warm-up to 120 MB in the first minute, then ±10 MB as jobs come and go.
    const samples = run(
      30,
      (t) => (t < 60 ? 70 * MB + t * MB : 120 * MB + ((t / 5) % 3) * 5 * MB),
      (t) => 25 + ((t / 5) % 4),
    );
    expect(soakVerdict({ outcomes: jobs, samples, agentExited: null, minGood: 24 })).toEqual({ ok: true, failures: [] });
  });

  it("a leak of 1 MB a minute fails; so does one open file per backup", () => {
    const leak = run(30, (t) => 100 * MB + (t / 60) * MB);
    expect(soakVerdict({ outcomes: jobs, samples: leak, agentExited: null, minGood: 24 }).failures).toEqual([
      expect.stringMatching(/^RSS grew: 1(16|17)\.[0-9] MB → 132\.[0-9] MB \(allowed \+12\.[0-9] MB/),
    ]);
    const fdLeak = run(
      30,
      () => 100 * MB,
      (t) => 25 + Math.floor(t / 60),
    );
    expect(soakVerdict({ outcomes: jobs, samples: fdLeak, agentExited: null, minGood: 24 }).failures).toEqual([
      expect.stringMatching(/^open files grew: 32 → 47/),
    ]);
    expect(
      flatness(
        run(30, () => 1),
        (s) => s.rssBytes,
        { absolute: 0, relative: 0 },
      ).ok,
    ).toBe(true);
  });

  it("open files of a job in flight at two of a short run's last samples are not a leak", () => {
    // The samples of a 2-minute soak in CI (2026-12-04): a backup was running at 119 and 121 s.
    const ci = [
      [9200, 20],
      [14200, 32],
      [19205, 31],
      [24205, 26],
      [29205, 26],
      [34205, 26],
      [39206, 27],
      [44206, 26],
      [49206, 26],
      [54211, 27],
      [59212, 39],
      [64213, 36],
      [69213, 34],
      [74215, 30],
      [79218, 30],
      [84221, 30],
      [89219, 33],
      [94219, 30],
      [99220, 30],
      [104221, 30],
      [109221, 31],
      [114223, 31],
      [119224, 39],
      [121303, 36],
    ].map(([atMs, fds]) => ({ atMs, fds, rssBytes: 100 * MB }));
    expect(soakVerdict({ outcomes: jobs, samples: ci, agentExited: null, minGood: 2 })).toEqual({ ok: true, failures: [] });
    // The same run with one file left open by each job after the first minute fails.
    const leaking = ci.map((s) => ({ ...s, fds: s.fds + (s.atMs > 60_000 ? Math.floor((s.atMs - 60_000) / 5_000) : 0) }));
    expect(soakVerdict({ outcomes: jobs, samples: leaking, agentExited: null, minGood: 2 }).failures).toEqual([expect.stringMatching(/^open files grew/)]);
  });

  it("a failed good job, a damaged drill that passed, too few runs, or an exited agent fail it, each with its reason", () => {
    const samples = run(30, () => 100 * MB);
    const outcomes: JobOutcome[] = [
      ...good("backup", 29),
      { kind: "backup", ok: false, note: "The backup store failed: …", ms: 1 },
      ...good("drill", 3),
      { kind: "damaged drill", ok: false, note: "the drill succeeded", ms: 1 },
      ...good("health", 10),
    ];
    expect(soakVerdict({ outcomes, samples, agentExited: "code 1", minGood: 24 }).failures).toEqual([
      "the agent exited: code 1",
      "backup failed: The backup store failed: …",
      "only 3 drill run(s), expected at least 24",
      "damaged drill failed: the drill succeeded",
    ]);
    expect(soakVerdict({ outcomes: jobs, samples: samples.slice(0, 5), agentExited: null, minGood: 24 }).ok).toBe(false);
  });
});
