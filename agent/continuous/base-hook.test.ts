import { describe, it, expect, beforeEach, afterEach } from "vitest";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { offerBase, takeOfferedBase } from "./base-hook";
import { continuousDir } from "./continuous-dir";
import { staleBase } from "./shipper";

/**
 * A backup of its own process leaves its set for a `serve` waiting for its log's first base
 * (serve-log.test.ts runs both as real processes); the file is taken once, and one that is not an
 * offer is dropped rather than taken.
 */

let stateDir: string;
beforeEach(() => {
  stateDir = mkdtempSync(path.join(tmpdir(), "lifeboat-base-offer-"));
});
afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

describe("a backup's offer of its set as the log's first base", () => {
  it("is taken once, the newest offer replacing an older one, in the continuous directory (0700, the file 0600)", () => {
    offerBase(stateDir, { setId: "lifeboat-2026-12-07_01-00-00", revision: 41 });
    offerBase(stateDir, { setId: "lifeboat-2026-12-07_02-00-00", revision: 97 });
    const { dir, baseOffer } = continuousDir(stateDir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(baseOffer).mode & 0o777).toBe(0o600);
    expect(takeOfferedBase(stateDir)).toEqual({ setId: "lifeboat-2026-12-07_02-00-00", revision: 97 });
    expect(existsSync(baseOffer)).toBe(false);
    expect(takeOfferedBase(stateDir)).toBeNull();
  });

  it("none, or a file that is not an offer (damaged, foreign, a revision that is not a count): nothing taken, and the file dropped", () => {
    expect(takeOfferedBase(stateDir)).toBeNull();
    const { baseOffer } = continuousDir(stateDir);
    offerBase(stateDir, { setId: "x", revision: 1 });
    for (const text of [
      "{not json",
      JSON.stringify({ setId: "../../etc", revision: 3 }),
      JSON.stringify({ setId: "s", revision: -1 }),
      JSON.stringify({ setId: "s", revision: 1.5 }),
      "[]",
    ]) {
      writeFileSync(baseOffer, text);
      expect(takeOfferedBase(stateDir)).toBeNull();
      expect(existsSync(baseOffer)).toBe(false);
    }
  });

  it("carries the database file its snapshot read; one replaced during the snapshot, or a file that is not one, as null", () => {
    offerBase(stateDir, { setId: "lifeboat-2026-12-07_03-00-00", revision: 7, file: { dev: 64768, ino: 1234 } });
    expect(takeOfferedBase(stateDir)).toEqual({ setId: "lifeboat-2026-12-07_03-00-00", revision: 7, file: { dev: 64768, ino: 1234 } });
    offerBase(stateDir, { setId: "lifeboat-2026-12-07_03-00-01", revision: 8, file: null });
    expect(takeOfferedBase(stateDir)).toEqual({ setId: "lifeboat-2026-12-07_03-00-01", revision: 8, file: null });
    writeFileSync(continuousDir(stateDir).baseOffer, JSON.stringify({ setId: "s", revision: 9, file: { dev: "x", ino: 1 } }));
    expect(takeOfferedBase(stateDir)).toEqual({ setId: "s", revision: 9, file: null });
  });

  it("is taken only while kine still holds the rows after it (shipper.ts, staleBase)", () => {
    const set = { setId: "lifeboat-2026-12-07_02-00-00", revision: 5000 };
    expect(staleBase(set, { revision: 5400, compactRevision: 4400, rowAtAfter: "row" })).toBeNull();
    expect(staleBase(set, { revision: 9000, compactRevision: 8000, rowAtAfter: null })).toMatch(/compacted up to revision 8000, past the set's 5000/);
    expect(staleBase(set, { revision: 4000, compactRevision: 3000, rowAtAfter: null })).toMatch(/below the set's 5000/);
    expect(staleBase(set, { revision: 5400, compactRevision: 4400, rowAtAfter: null })).toMatch(/row at the set's revision 5000 is gone/);
  });
});
