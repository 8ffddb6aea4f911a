import { describe, expect, it } from "vitest";
import { groupObjects, type ListedObject } from "../../lib/backups/grouping";
import { lifeboatObjectNames } from "../../lib/contracts/backup-names";
import { latestSet } from "./sources";

/** A complete one-copy Lifeboat set named `named`, its objects received by the store at `received`. */
function set(named: string, received: string, folder = ""): ListedObject[] {
  const n = lifeboatObjectNames(new Date(named));
  return [n.logical, n.secrets, n.manifest].map((key) => ({ key: folder + key, size: 100, lastModified: received }));
}

describe('the set "latest" names', () => {
  it("is the newest by name when the names are right", () => {
    const { sets } = groupObjects([...set("2026-12-01T00:00:00Z", "2026-12-01T00:01:00Z"), ...set("2026-12-02T00:00:00Z", "2026-12-02T00:01:00Z")]);
    expect(latestSet(sets)?.id).toBe("lifeboat-2026-12-02_00-00-00");
  });

  it("a set named by a clock that ran ahead is as new as when the store received it, not newer than the sets after it", () => {
    const { sets } = groupObjects([
      ...set("2030-01-01T00:00:00Z", "2026-12-01T00:01:00Z"), // night 1, host clock years ahead
      ...set("2026-12-02T00:00:00Z", "2026-12-02T00:01:00Z"),
      ...set("2026-12-03T00:00:00Z", "2026-12-03T00:01:00Z"),
    ]);
    expect(latestSet(sets)?.id).toBe("lifeboat-2026-12-03_00-00-00");
  });

  it("a newer set in a folder below the store is another cluster's", () => {
    const { sets } = groupObjects([
      ...set("2026-12-01T00:00:00Z", "2026-12-01T00:01:00Z"),
      ...set("2026-12-05T00:00:00Z", "2026-12-05T00:01:00Z", "cluster-b/"),
    ]);
    expect(latestSet(sets)?.id).toBe("lifeboat-2026-12-01_00-00-00");
  });
});
