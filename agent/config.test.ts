import { describe, expect, it } from "vitest";
import { loadAgentConfig } from "./config";

const base = { LIFEBOAT_BACKUP_DIR: "/nonexistent/lifeboat-store" };

describe("agent configuration: retention and schedules", () => {
  it("an empty value (`LIFEBOAT_KEEP_LAST=` in agent.env) is the default, not 0 (which deleted all but the newest set)", () => {
    const blank = loadAgentConfig({ ...base, LIFEBOAT_KEEP_LAST: "", LIFEBOAT_KEEP_DAILY: " ", LIFEBOAT_KEEP_WEEKLY: "", LIFEBOAT_KEEP_MONTHLY: "" });
    expect(blank.retention).toEqual({ keepLast: 7, keepDaily: 7, keepWeekly: 4, keepMonthly: 6 });
    expect(loadAgentConfig({ ...base, LIFEBOAT_KEEP_LAST: "0", LIFEBOAT_KEEP_DAILY: "30" }).retention).toMatchObject({ keepLast: 0, keepDaily: 30 });
  });

  it("keep counts that are not whole numbers of 0 or more stop the agent with a message naming the variable", () => {
    for (const v of ["-1", "2.5", "seven", "7 # a week", "Infinity"])
      expect(() => loadAgentConfig({ ...base, LIFEBOAT_KEEP_MONTHLY: v }), v).toThrow(/LIFEBOAT_KEEP_MONTHLY/);
  });

  it("an empty schedule is the default schedule, not silently no backups at all; `off` turns it off", () => {
    const blank = loadAgentConfig({ ...base, LIFEBOAT_BACKUP_SCHEDULE: "", LIFEBOAT_INTEGRITY_SCHEDULE: "  " });
    expect(blank.schedule).toBe("0 0 * * *");
    expect(blank.integritySchedule).toBe("30 3 * * *");
    const off = loadAgentConfig({ ...base, LIFEBOAT_BACKUP_SCHEDULE: "off", LIFEBOAT_INTEGRITY_SCHEDULE: "OFF" });
    expect([off.schedule, off.integritySchedule]).toEqual([null, null]);
  });
});

describe("agent configuration: an empty value is the default", () => {
  // `LIFEBOAT_LOG_INTERVAL_SECONDS=` in agent.env (or an empty Environment= in a drop-in) read as 0
  // turned continuous protection off without a word; an empty port listened on a random port.
  const withDefaults = [
    "LIFEBOAT_K3S_SERVER_DIR",
    "AWS_DEFAULT_REGION",
    "LIFEBOAT_AGENT_HOST",
    "LIFEBOAT_AGENT_PORT",
    "LIFEBOAT_OWNER",
    "LIFEBOAT_K3S_STOP_CMD",
    "LIFEBOAT_K3S_START_CMD",
    "LIFEBOAT_K3S_STOP_WAIT_SECONDS",
    "LIFEBOAT_K3S_STATUS_CMD",
    "LIFEBOAT_RESTORE_MAX_BYTES",
    "LIFEBOAT_JOB_STALL_SECONDS",
    "LIFEBOAT_LOG_INTERVAL_SECONDS",
    "LIFEBOAT_LOG_COMPACT_HOURS",
    "LIFEBOAT_LOG_FOLD_HOURS",
    "LIFEBOAT_LOG_CHECKPOINT_MINUTES",
    "LOG_LEVEL",
  ];
  const s3 = { ...base, AWS_S3_BUCKET: "a-bucket" };
  const defaults = loadAgentConfig(s3);
  for (const name of withDefaults)
    it(name, () => {
      for (const blank of ["", "  "]) expect(loadAgentConfig({ ...s3, [name]: blank }), JSON.stringify(blank)).toEqual(defaults);
    });

  it("0 still turns continuous protection, its compaction, its checkpoints and the stall limit off", () => {
    const off = loadAgentConfig({
      ...base,
      LIFEBOAT_LOG_INTERVAL_SECONDS: "0",
      LIFEBOAT_LOG_COMPACT_HOURS: "0",
      LIFEBOAT_LOG_CHECKPOINT_MINUTES: "0",
      LIFEBOAT_JOB_STALL_SECONDS: "0",
    });
    expect([off.logIntervalMs, off.logCompactHours, off.logCheckpointMinutes, off.jobStallMs]).toEqual([0, 0, 0, 0]);
    expect(loadAgentConfig(base).logCheckpointMinutes).toBe(5);
  });
});
