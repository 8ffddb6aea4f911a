import { describe, it, expect, beforeEach, afterEach } from "vitest";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { addDailyBytes, continuousDir, readPosition, writePosition, DAILY_KEEP_DAYS, EMPTY_POSITION } from "./position";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "lifeboat-position-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const G1 = "20261201T000000Z";
const G2 = "20261202T120000Z";

describe("the daily bytes in position.json", () => {
  it("adds an upload to its generation's UTC day, and starts another day or generation apart", () => {
    let s = addDailyBytes([], G1, new Date("2026-12-01T23:59:59.900Z"), 100);
    s = addDailyBytes(s, G1, new Date("2026-12-01T10:00:00Z"), 50);
    s = addDailyBytes(s, G1, new Date("2026-12-02T00:00:00.100Z"), 7);
    s = addDailyBytes(s, G2, new Date("2026-12-02T12:00:05Z"), 9);
    expect(s).toEqual([
      { generation: G1, day: "2026-12-01", bytes: 150, segments: 2 },
      { generation: G1, day: "2026-12-02", bytes: 7, segments: 1 },
      { generation: G2, day: "2026-12-02", bytes: 9, segments: 1 },
    ]);
  });

  it(`keeps the newest ${DAILY_KEEP_DAYS} days`, () => {
    let s: ReturnType<typeof addDailyBytes> = [];
    for (let i = 0; i < 40; i++) s = addDailyBytes(s, G1, new Date(Date.UTC(2026, 10, 1 + i, 6)), 1);
    expect(s).toHaveLength(DAILY_KEEP_DAYS);
    expect(s[0].day).toBe("2026-11-11");
    expect(s.at(-1)!.day).toBe("2026-12-10");
  });

  it("survives a durable write and read, and a position.json written before the field loads with an empty series", () => {
    const pos = { ...EMPTY_POSITION, generation: G1, dailyBytes: addDailyBytes([], G1, new Date("2026-12-01T10:00:00Z"), 42) };
    writePosition(dir, pos);
    expect(readPosition(dir).dailyBytes).toEqual([{ generation: G1, day: "2026-12-01", bytes: 42, segments: 1 }]);
    const old: Record<string, unknown> = { ...EMPTY_POSITION, generation: G1, segments: 3, bytes: 999 };
    delete old.dailyBytes;
    mkdirSync(continuousDir(dir).dir, { recursive: true });
    writeFileSync(continuousDir(dir).position, JSON.stringify(old));
    expect(readPosition(dir)).toMatchObject({ generation: G1, segments: 3, bytes: 999, dailyBytes: [] });
  });
});
