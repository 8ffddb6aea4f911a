import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { demoTools, hashOf } from "./plain-js";

const ROOT = path.resolve(import.meta.dirname, "../..");

describe("the demo's tools as plain JavaScript", () => {
  it("are built from the sources, answer as the sources do, and are rebuilt when any source they hold changes", () => {
    const tools = demoTools();
    expect(tools).not.toBeNull();
    for (const file of [tools!.simulatedK3s, tools!.kineWriter]) {
      expect(file.startsWith(path.join(ROOT, "node_modules", ".cache") + path.sep)).toBe(true);
      expect(file.endsWith(".js")).toBe(true);
    }
    const dir = mkdtempSync(path.join(tmpdir(), "lifeboat-plainjs-"));
    try {
      const status = spawnSync(process.execPath, [tools!.simulatedK3s, "status", "--server-dir", dir], { encoding: "utf8" });
      expect(status.stdout.trim()).toBe("inactive");
      expect(status.status).toBe(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // The build names every source it was made from, the tools' imports included, and is named by
    // their hash: a change to any of them (say the kine simulator) no longer matches it.
    const current = JSON.parse(readFileSync(path.join(ROOT, "node_modules", ".cache", "lifeboat-demo-tools", "current.json"), "utf8")) as {
      hash: string;
      inputs: string[];
    };
    expect(current.inputs).toEqual(expect.arrayContaining(["agent/demo/simulated-k3s.ts", "agent/demo/kine-writer.ts", "agent/kine/simulator.ts"]));
    expect(hashOf(current.inputs)).toBe(current.hash);
    expect(path.basename(path.dirname(tools!.simulatedK3s))).toBe(current.hash);
  });
});
