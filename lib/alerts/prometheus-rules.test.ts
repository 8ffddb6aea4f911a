import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import yaml from "js-yaml";
import { afterAll, describe, expect, it } from "vitest";
import { ALERT_NAMES } from "../contracts/alerts";

// The shipped Prometheus rules: valid for promtool, unit-tested with `promtool test rules`, the
// PrometheusRule equal to the plain file, one rule per built-in alert, and only metrics that the
// dashboard or the agent export. Needs Debian's `prometheus` package (npm test installs it).

const ROOT = path.resolve(import.meta.dirname, "../..");
const DIR = path.join(ROOT, "deploy/prometheus");
const RULES = path.join(DIR, "lifeboat-rules.yaml");
const TESTS = path.join(DIR, "tests/lifeboat-rules.test.yaml");

type Rule = { alert: string; expr: string; for?: string; labels: Record<string, string>; annotations: Record<string, string> };
type Groups = { name: string; rules: Rule[] }[];
const load = (file: string) => yaml.load(readFileSync(file, "utf8")) as Record<string, any>;
const groups = load(RULES).groups as Groups;
const rules = groups.flatMap((g) => g.rules);
const work = mkdtempSync(path.join(tmpdir(), "lifeboat-promtool-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function promtool(...args: string[]): { code: number; out: string } {
  const r = spawnSync("promtool", args, { encoding: "utf8" });
  if (r.error) throw new Error("promtool is not installed: apt-get install prometheus (npm test installs it when run as root)");
  return { code: r.status ?? 1, out: `${r.stdout}${r.stderr}` };
}

describe("deploy/prometheus", () => {
  it("promtool check rules accepts the plain file and the PrometheusRule's groups", () => {
    const plain = promtool("check", "rules", RULES);
    expect(plain.out).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(plain.code).toBe(0);
    const operator = load(path.join(DIR, "prometheus-rule.yaml"));
    expect(operator).toMatchObject({ apiVersion: "monitoring.coreos.com/v1", kind: "PrometheusRule" });
    const extracted = path.join(work, "operator-groups.yaml");
    writeFileSync(extracted, yaml.dump({ groups: operator.spec.groups }));
    expect(promtool("check", "rules", extracted).code).toBe(0);
    // One source of truth: the operator's groups are the plain file's.
    expect(operator.spec.groups).toEqual(groups);
  });

  it("promtool test rules passes, and fails when a threshold moves", () => {
    const ok = promtool("test", "rules", TESTS);
    expect(ok.out).toContain("SUCCESS");
    expect(ok.code).toBe(0);
    // A copy with the WAL threshold tripled must fail its test: the tests look at the numbers.
    const copy = path.join(work, "mutated");
    execFileSync("mkdir", ["-p", path.join(copy, "tests")]);
    writeFileSync(
      path.join(copy, "lifeboat-rules.yaml"),
      readFileSync(RULES, "utf8").replace("lifeboat_agent_wal_size_bytes > 100e6", "lifeboat_agent_wal_size_bytes > 300e6"),
    );
    writeFileSync(path.join(copy, "tests/lifeboat-rules.test.yaml"), readFileSync(TESTS, "utf8"));
    const bad = promtool("test", "rules", path.join(copy, "tests/lifeboat-rules.test.yaml"));
    expect(bad.code).not.toBe(0);
    expect(bad.out).toContain("LifeboatWalTooLarge");
  });

  it("has a rule for every built-in alert and no other, each tested firing and quiet", () => {
    expect([...new Set(rules.map((r) => r.alert))].sort()).toEqual([...ALERT_NAMES].sort());
    for (const r of rules) expect(["warning", "critical"]).toContain(r.labels.severity);
    const cases = (load(TESTS).tests as { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[]).flatMap((t) => t.alert_rule_test);
    for (const name of ALERT_NAMES) {
      expect(
        cases.some((c) => c.alertname === name && c.exp_alerts.length > 0),
        `${name} firing`,
      ).toBe(true);
      expect(
        cases.some((c) => c.alertname === name && c.exp_alerts.length === 0),
        `${name} quiet`,
      ).toBe(true);
    }
  });

  it("uses only metrics the dashboard or the agent export", () => {
    const exported =
      readFileSync(path.join(ROOT, "lib/metrics/dashboard-metrics.ts"), "utf8") + readFileSync(path.join(ROOT, "agent/metrics/prometheus.ts"), "utf8");
    const used = new Set(rules.flatMap((r) => r.expr.match(/\blifeboat_[a-z_]+/g) ?? []));
    expect(used.size).toBeGreaterThan(10);
    for (const m of used) expect(exported, m).toContain(`"${m}"`);
  });
});
