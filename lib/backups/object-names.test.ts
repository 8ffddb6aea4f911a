import { describe, it, expect } from "vitest";
import { parseObjectName, parseSetId, lifeboatObjectNames, twoCopyLifeboatObjectNames, seedObjectNames, formatStamp } from "../contracts/backup-names";

// The catalog recognises sets only through these names, so their parsing is tested here with the
// names the seed CronJob and the agent really write, and with what else lives in buckets.
describe("parseObjectName", () => {
  it("recognises the seed CronJob's two names and groups them by their timestamp", () => {
    const a = parseObjectName("k3s_db_2024-12-18_00-00-07.tar.zst.gpg");
    const b = parseObjectName("state_2024-12-18_00-00-07.db.gpg");
    expect(a).toMatchObject({ kind: "file-archive", format: "seed", stamp: "2024-12-18_00-00-07", setId: "seed-2024-12-18_00-00-07" });
    expect(b).toMatchObject({ kind: "logical", format: "seed", setId: "seed-2024-12-18_00-00-07" });
    expect(a!.time.toISOString()).toBe("2024-12-18T00:00:07.000Z");
  });

  it("recognises Lifeboat's names in both layouts, as one set id", () => {
    const t = new Date("2025-01-02T03:04:05Z");
    const names = lifeboatObjectNames(t);
    expect(parseObjectName(names.logical)).toMatchObject({ kind: "lifeboat-logical", format: "lifeboat", setId: "lifeboat-2025-01-02_03-04-05" });
    expect(parseObjectName(names.secrets)).toMatchObject({ kind: "lifeboat-secrets", setId: "lifeboat-2025-01-02_03-04-05" });
    expect(parseObjectName(names.manifest)?.kind).toBe("manifest");
    const old = twoCopyLifeboatObjectNames(t);
    expect(old.logical).toBe(names.logical);
    expect(parseObjectName(old.files)).toMatchObject({ kind: "lifeboat-files", setId: "lifeboat-2025-01-02_03-04-05" });
    expect(parseObjectName(old.token)?.kind).toBe("lifeboat-token");
  });

  it("ignores folders before the base name (the CronJob's AWS_S3_PATH)", () => {
    expect(parseObjectName("backups/k3s/state_2024-12-18_00-00-07.db.gpg")?.setId).toBe("seed-2024-12-18_00-00-07");
  });

  it("returns null for junk and near misses", () => {
    for (const junk of [
      "",
      "README.md",
      "state.db",
      "k3s_db_2024-12-18.tar.zst.gpg",
      "k3s_db_2024-12-18_00-00-07.tar.zst", // not encrypted: not what the job uploads
      "state_2024-12-18_00-00-07.db.gpg.tmp",
      "xstate_2024-12-18_00-00-07.db.gpg",
      "lifeboat_2024-12-18_00-00-07_other.json",
      "state_24-12-18_00-00-07.db.gpg",
      "folder/",
    ]) {
      expect(parseObjectName(junk), junk).toBeNull();
    }
  });

  it("rejects impossible dates instead of rolling them over", () => {
    expect(parseObjectName("state_2024-02-30_00-00-00.db.gpg")).toBeNull();
    expect(parseObjectName("state_2023-02-29_00-00-00.db.gpg")).toBeNull();
    expect(parseObjectName("state_2024-02-29_00-00-00.db.gpg")?.stamp).toBe("2024-02-29_00-00-00"); // leap year
    expect(parseObjectName("state_2024-13-01_00-00-00.db.gpg")).toBeNull();
    expect(parseObjectName("state_2024-12-18_24-00-00.db.gpg")).toBeNull();
    expect(parseObjectName("state_2024-12-18_23-60-00.db.gpg")).toBeNull();
    expect(parseObjectName("k3s_db_2024-12-18_23-59-60.tar.zst.gpg")).toBeNull();
  });

  it("reads a year below 100 as written, not as 19xx (Date.UTC's two-digit years)", () => {
    const a = parseObjectName("k3s_db_0024-12-18_00-00-07.tar.zst.gpg");
    expect(a).toMatchObject({ stamp: "0024-12-18_00-00-07", setId: "seed-0024-12-18_00-00-07" });
    expect(a!.time.getUTCFullYear()).toBe(24);
    expect(a!.time.toISOString()).toBe("0024-12-18T00:00:07.000Z");
    expect(formatStamp(a!.time)).toBe("0024-12-18_00-00-07");
    expect(parseSetId("lifeboat-0000-01-01_00-00-00")?.time.toISOString()).toBe("0000-01-01T00:00:00.000Z");
    // Year 24 was a leap year, year 23 was not (and 1923's rules are not the question).
    expect(parseObjectName("state_0024-02-29_00-00-00.db.gpg")?.time.toISOString()).toBe("0024-02-29T00:00:00.000Z");
    expect(parseObjectName("state_0023-02-29_00-00-00.db.gpg")).toBeNull();
    expect(parseObjectName("state_0100-02-29_00-00-00.db.gpg")).toBeNull();
  });

  it("round-trips stamps and set ids", () => {
    const t = new Date("2024-12-31T23:59:58Z");
    expect(formatStamp(t)).toBe("2024-12-31_23-59-58");
    expect(seedObjectNames(t)).toEqual({ fileArchive: "k3s_db_2024-12-31_23-59-58.tar.zst.gpg", logical: "state_2024-12-31_23-59-58.db.gpg" });
    expect(parseSetId("seed-2024-12-31_23-59-58")?.time.getTime()).toBe(t.getTime());
    expect(parseSetId("seed-2024-02-31_00-00-00")).toBeNull();
    expect(parseSetId("other-2024-12-31_23-59-58")).toBeNull();
  });
});
