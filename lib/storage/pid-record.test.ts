import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parsePidRecord, pidRecord, processIdentity, recordedProcessAlive } from "./pid-record";

describe("pid records", () => {
  it("reads what it writes, the pid alone of older files, and nothing from junk", () => {
    const mine = pidRecord();
    expect(mine).toMatch(/^\d+\n[0-9a-f-]+\/\d+\n$/);
    expect(parsePidRecord(mine)).toEqual({ pid: process.pid, id: processIdentity(process.pid) });
    expect(parsePidRecord("4242\n")).toEqual({ pid: 4242, id: null });
    expect(parsePidRecord(" 4242 ")).toEqual({ pid: 4242, id: null });
    for (const junk of ["", "\n", "0", "-5", "abc", "42 43", "42\na b\n", "42\nx\ny\n", "99999999999999999999"])
      expect(parsePidRecord(junk), JSON.stringify(junk)).toBeNull();
  });

  it("tells this process from another start of the same pid, and from another boot", () => {
    const id = processIdentity(process.pid)!;
    const start = Number(readFileSync(`/proc/${process.pid}/stat`, "utf8").split(") ")[1].split(" ")[19]);
    expect(id.endsWith(`/${start}`)).toBe(true);
    expect(recordedProcessAlive({ pid: process.pid, id })).toBe(true);
    expect(recordedProcessAlive({ pid: process.pid, id: id.replace(/\/\d+$/, `/${start + 1}`) })).toBe(false);
    expect(recordedProcessAlive({ pid: process.pid, id: `00000000-0000-0000-0000-000000000000/${start}` })).toBe(false);
    // A pid no process has (beyond the kernel's pid_max): gone, with or without an identity.
    expect(recordedProcessAlive({ pid: 2 ** 22 + 1, id })).toBe(false);
    expect(recordedProcessAlive({ pid: 2 ** 22 + 1, id: null })).toBe(false);
  });
});
