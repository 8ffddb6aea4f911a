import { describe, it, expect, afterAll } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import type { EmbeddedS3 } from "../../lib/storage/embedded-s3";
import type { RunningKineWriter } from "../testing/kine-writer-process";
import { startLogTest, stopLogTest, storedSegments } from "../testing/continuous-fixtures";
import { waitFor } from "../testing/restore-fixtures";
import { startBackupJob } from "../backup/run-backup";
import type { AgentDeps } from "../module";
import { continuousModule } from "../routes/continuous";

/**
 * `serve`'s continuous module compacts the log after a backup it takes: the module started as `serve`
 * starts it (the shipper waits for the first backup as its base), backups run as the schedule runs
 * them, and after the second one the closed windows (3 s wide here) are folded.
 */

let work = "";
let s3: EmbeddedS3 | undefined;
let writer: RunningKineWriter | null = null;
let deps: AgentDeps;

afterAll(async () => {
  await continuousModule.stop?.();
  await stopLogTest({ writer, s3, work });
});

async function backup(): Promise<void> {
  const job = await startBackupJob(deps, { retention: false, allowNewPassphrase: false }, "schedule").done;
  expect(job.state).toBe("succeeded");
}

describe("compaction in serve", () => {
  it("runs after a backup and folds the closed windows", async () => {
    ({ work, s3, writer, deps } = await startLogTest({
      passphrase: "compaction schedule passphrase",
      prefix: "sched",
      seed: 81,
      marker: "marker-SCHED",
      intervalMs: 40,
      compactEveryMs: 700,
      env: { LIFEBOAT_LOG_INTERVAL_SECONDS: "1", LIFEBOAT_LOG_COMPACT_HOURS: String(3 / 3600) },
    }));
    await continuousModule.start!(deps);
    await backup(); // the log's first base
    await waitFor(async () => ((await storedSegments(deps.store())).length >= 10 ? true : undefined), 120_000, "ten segments");
    await sleep(3000); // the window of the newest segment closes too
    expect((await storedSegments(deps.store())).some((s) => s.compacted)).toBe(false);
    await sleep(1100); // set ids carry the second
    await backup();
    await waitFor(async () => ((await storedSegments(deps.store())).some((s) => s.compacted) ? true : undefined), 120_000, "a compacted object");
  }, 300_000);
});
