import { describe, it, expect } from "vitest";
import { bytes, count, cpuMillis, parseQuantity, podRequests } from "./quantity";
import { matchesRequirements, matchesSelector, parseLabelSelector } from "./selectors";
import { formatResources } from "./format";
import { nodeRoles } from "./views";

describe("quantities", () => {
  it("parses CPU, memory and counts the way the API writes them", () => {
    expect(cpuMillis("250m")).toBe(250);
    expect(cpuMillis("1")).toBe(1000);
    expect(cpuMillis("1.5")).toBe(1500);
    expect(cpuMillis("100000n")).toBe(1); // rounded up, like the scheduler
    expect(bytes("512Mi")).toBe(512 * 2 ** 20);
    expect(bytes("3882096Ki")).toBe(3882096 * 1024);
    expect(bytes("1G")).toBe(1e9);
    expect(bytes("1e3")).toBe(1000);
    expect(bytes("129e6")).toBe(129e6);
    expect(count("110")).toBe(110);
    expect(() => parseQuantity("12 apples")).toThrow(/not a Kubernetes quantity/);
  });

  it("sums container requests, or the largest init container when bigger", () => {
    expect(
      podRequests({
        containers: [{ resources: { requests: { cpu: "100m", memory: "64Mi" } } }, { resources: { requests: { cpu: "50m" } } }],
        initContainers: [{ resources: { requests: { cpu: "500m", memory: "16Mi" } } }],
      }),
    ).toEqual({ cpuMillis: 500, memoryBytes: 64 * 2 ** 20 });
    expect(podRequests(undefined)).toEqual({ cpuMillis: 0, memoryBytes: 0 });
    expect(formatResources({ cpuMillis: 250, memoryBytes: 256 * 2 ** 20 })).toBe("250m CPU, 256 MiB");
  });
});

describe("label selectors", () => {
  it("matches the object form with PDB semantics (empty matches all, missing matches none)", () => {
    const l = { app: "web", tier: "front" };
    expect(matchesSelector({ matchLabels: { app: "web" } }, l)).toBe(true);
    expect(matchesSelector({ matchLabels: { app: "db" } }, l)).toBe(false);
    expect(matchesSelector({ matchExpressions: [{ key: "tier", operator: "In", values: ["front", "back"] }] }, l)).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: "tier", operator: "NotIn", values: ["front"] }] }, l)).toBe(false);
    expect(matchesSelector({ matchExpressions: [{ key: "legacy", operator: "DoesNotExist" }] }, l)).toBe(true);
    expect(matchesSelector({}, l)).toBe(true);
    expect(matchesSelector(undefined, l)).toBe(false);
  });

  it("parses the string form", () => {
    const r = parseLabelSelector("app=web, tier!=db,env in (a, b),!legacy,release");
    expect(r).toEqual([
      { key: "app", operator: "In", values: ["web"] },
      { key: "tier", operator: "NotIn", values: ["db"] },
      { key: "env", operator: "In", values: ["a", "b"] },
      { key: "legacy", operator: "DoesNotExist" },
      { key: "release", operator: "Exists" },
    ]);
    expect(matchesRequirements(r, { app: "web", env: "b", release: "1" })).toBe(true);
    expect(matchesRequirements(r, { app: "web", env: "c", release: "1" })).toBe(false);
    expect(() => parseLabelSelector("app=web,,")).toThrow(/unable to parse requirement/);
  });

  it("reads roles from node-role labels", () => {
    expect(nodeRoles({ "node-role.kubernetes.io/control-plane": "true", "node-role.kubernetes.io/master": "true", "kubernetes.io/hostname": "pi-1" })).toEqual([
      "control-plane",
      "master",
    ]);
    expect(nodeRoles({ "kubernetes.io/role": "worker" })).toEqual(["worker"]);
    expect(nodeRoles(undefined)).toEqual([]);
  });
});
