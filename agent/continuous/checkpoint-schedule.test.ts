import { describe, it, expect, afterAll } from "vitest";
import type { EmbeddedS3 } from "../../lib/storage/embedded-s3";
import type { RunningKineWriter } from "../testing/kine-writer-process";
import { startLogTest, stopLogTest } from "../testing/continuous-fixtures";
import { waitFor } from "../testing/restore-fixtures";
import { startBackupJob } from "../backup/run-backup";
import type { AgentDeps } from "../module";
import { continuousModule, timerMs } from "../routes/continuous";
import { listLog } from "./log-listing";

/**
 * `serve`'s continuous module writes checkpoints of the open window every
 * LIFEBOAT_LOG_CHECKPOINT_MINUTES (3 s here), and its segments stay.
 */

let work = "";
let s3: EmbeddedS3 | undefined;
let writer: RunningKineWriter | null = null;
let deps: AgentDeps;

afterAll(async () => {
  await continuousModule.stop?.();
  await stopLogTest({ writer, s3, work });
});

describe("checkpoints in serve", () => {
  it("writes a checkpoint of the open window on its interval, keeping the segments", async () => {
    ({ work, s3, writer, deps } = await startLogTest({
      passphrase: "checkpoint schedule passphrase",
      prefix: "cpsched",
      seed: 83,
      marker: "marker-CPSCHED",
      intervalMs: 40,
      compactEveryMs: 700,
      env: { LIFEBOAT_LOG_INTERVAL_SECONDS: "1", LIFEBOAT_LOG_COMPACT_HOURS: "1", LIFEBOAT_LOG_CHECKPOINT_MINUTES: String(3 / 60) },
    }));
    await continuousModule.start!(deps);
    const job = await startBackupJob(deps, { retention: false, allowNewPassphrase: false }, "schedule").done;
    expect(job.state).toBe("succeeded");
    const gen = await waitFor(
      async () => {
        const g = (await listLog(deps.store())).at(-1);
        return g && g.checkpoints.length > 0 ? g : undefined;
      },
      120_000,
      "a checkpoint",
    );
    const cp = gen.checkpoints[gen.checkpoints.length - 1];
    expect(gen.segments.some((s) => s.compacted)).toBe(false);
    expect(gen.segments.filter((s) => s.first >= cp.first && s.last <= cp.last).length).toBeGreaterThan(1);
  }, 300_000);
});

describe("serve's log timers", () => {
  it("take at most the longest period Node's timers take (beyond it Node fires them every millisecond)", () => {
    expect(timerMs(1000 * 3_600_000, 60_000)).toBe(2 ** 31 - 1); // LIFEBOAT_LOG_COMPACT_HOURS=1000
    expect(timerMs(40_000 * 60_000, 1000)).toBe(2 ** 31 - 1); // LIFEBOAT_LOG_CHECKPOINT_MINUTES=40000
    expect(timerMs(6 * 3_600_000, 60_000)).toBe(6 * 3_600_000);
    expect(timerMs(500, 1000)).toBe(1000);
  });
});
