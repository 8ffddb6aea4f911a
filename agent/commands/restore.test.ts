import { describe, it, expect, vi, beforeEach, afterEach } from "vitest";

/**
 * `lifeboat-agent restore … --to-time T`: the time is checked as POST /restores checks it (PointTime in
 * lib/contracts/agent-restore.ts). A date the calendar does not have, a bare number, another format or a
 * time without its offset is a usage error (exit 2, with a sentence), never a restore to another day
 * or to the host's zone. The runner is a stand-in that records the request the command would start.
 */

const started: { toTime?: string; toRevision?: number }[] = [];
vi.mock("../restore/runner", () => ({
  resumeInterrupted: async () => [],
  startRestore: async (_deps: unknown, req: { toTime?: string; toRevision?: number }) => {
    started.push(req);
    throw new Error("started");
  },
}));

import { restoreCommand } from "./restore";

let said: string[];
const io = { out: () => {}, err: (l: string) => void said.push(l), confirm: async () => false };

/** Exit code and what the command said, or the request it started. */
async function run(time: string): Promise<{ exit: number | "started"; toTime?: string; said: string }> {
  said = [];
  started.length = 0;
  const exit = await restoreCommand.run(["latest", "--to-time", time, "--dry-run"], {} as never, io).catch((err: Error) => {
    if (err.message !== "started") throw err;
    return "started" as const;
  });
  return { exit, toTime: started[0]?.toTime, said: said.join("\n") };
}

const tz = process.env.TZ;
beforeEach(() => {
  // A host zone that is not UTC: a time without an offset must not be read in it.
  process.env.TZ = "Europe/Berlin";
});
afterEach(() => {
  process.env.TZ = tz;
});

describe("restore --to-time", () => {
  it.each([
    ["2026-02-30T10:00:00Z", "a day February does not have (new Date() made it March 2)"],
    ["2026-02-29T10:00:00Z", "February 29 of a year that is not a leap year"],
    ["2026-04-31T00:00:00Z", "April 31"],
    ["2026-12-03T24:00:00Z", "24:00"],
    ["5", "a bare number (new Date() made it 2001-05-01)"],
    ["12/03/2026 14:00", "another format"],
    ["2026-12-03T14:32:10", "no offset (new Date() read it in the host's zone)"],
    ["", "nothing"],
  ])("refuses %j: %s", async (time) => {
    const r = await run(time);
    expect(r.exit).toBe(2);
    expect(r.said).toContain("--to-time needs an ISO time with seconds and its offset");
    expect(r.said).toContain(`got "${time}"`);
  });

  it.each([
    ["2026-12-03T14:32:10Z", "2026-12-03T14:32:10.000Z"],
    ["2026-12-03T15:32:10+01:00", "2026-12-03T14:32:10.000Z"],
    ["2028-02-29T00:00:00.5Z", "2028-02-29T00:00:00.500Z"],
  ])("takes %j as %j", async (time, iso) => {
    expect(await run(time)).toMatchObject({ exit: "started", toTime: iso });
  });
});
