import { describe, expect, it } from "vitest";
import { staticClosure } from "../testing/static-imports";

/**
 * What every `lifeboat-agent` command, `serve` included, loads before it runs: the modules agent/cli.ts
 * reaches through static imports (the bundle's code splitting loads the rest only when an `import()`
 * runs). An idle `serve` holds everything here for good, so what only a backup, a restore, the doctor
 * or the log's upload needs must stay behind an `import()` (docs/benchmarks.md, "Idle serve").
 */
describe("the agent's start", () => {
  it("loads no S3 SDK, archive pipeline, OpenPGP, zstd, tar or SQLite until a command needs them", async () => {
    const loaded = await staticClosure("agent/cli.ts");
    expect(loaded).toContain("agent/commands/serve.ts"); // the walk itself works
    const heavy = loaded.filter((p) =>
      /node_modules\/(@aws-sdk|@smithy|tar|openpgp)\/|^(zstd-napi|better-sqlite3)$|^agent\/(archive|backup\/archive-pipeline|sqlite|restore\/runner|continuous\/shipper)/.test(
        p,
      ),
    );
    expect(heavy).toEqual([]);
  }, 30_000);
});
