import { describe, it, expect } from "vitest";
import { groupObjects, setSize } from "./grouping";

const at = "2024-12-18T00:01:00.000Z";
const obj = (key: string, size = 100) => ({ key, size, lastModified: new Date(at) });

describe("groupObjects", () => {
  it("groups the seed's two objects per timestamp into one set, newest first", () => {
    const { sets, other } = groupObjects([
      obj("state_2024-12-17_00-00-05.db.gpg", 10),
      obj("k3s_db_2024-12-18_00-00-07.tar.zst.gpg", 30),
      obj("k3s_db_2024-12-17_00-00-05.tar.zst.gpg", 20),
      obj("state_2024-12-18_00-00-07.db.gpg", 40),
    ]);
    expect(other).toEqual([]);
    expect(sets.map((s) => s.id)).toEqual(["seed-2024-12-18_00-00-07", "seed-2024-12-17_00-00-05"]);
    expect(sets[0].objects.map((o) => [o.kind, o.size])).toEqual([
      ["file-archive", 30],
      ["logical", 40],
    ]);
    expect(sets[0].objects[0].lastModified).toBe(at);
    expect(sets[0].missing).toEqual([]);
    expect(setSize(sets[1])).toBe(30);
  });

  it("reports the kinds a set lacks", () => {
    const { sets } = groupObjects([
      obj("k3s_db_2024-12-18_00-00-07.tar.zst.gpg"),
      obj("lifeboat_2024-12-19_00-00-00_state.db.zst.gpg"),
      obj("lifeboat_2024-12-19_00-00-00_manifest.json"),
    ]);
    const byId = Object.fromEntries(sets.map((s) => [s.id, s]));
    expect(byId["seed-2024-12-18_00-00-07"].missing).toEqual(["logical"]);
    expect(byId["lifeboat-2024-12-19_00-00-00"].missing).toEqual(["lifeboat-files", "lifeboat-token"]);
    expect(byId["lifeboat-2024-12-19_00-00-00"].format).toBe("lifeboat");
  });

  it("judges each Lifeboat set against its own layout in a bucket holding both (one copy and two copies of the database)", () => {
    const { sets } = groupObjects([
      // two-copy layout, complete and missing its token archive
      obj("lifeboat_2024-12-17_00-00-00_state.db.zst.gpg"),
      obj("lifeboat_2024-12-17_00-00-00_server.tar.zst.gpg"),
      obj("lifeboat_2024-12-17_00-00-00_token.tar.zst.gpg"),
      obj("lifeboat_2024-12-17_00-00-00_manifest.json"),
      obj("lifeboat_2024-12-18_00-00-00_state.db.zst.gpg"),
      obj("lifeboat_2024-12-18_00-00-00_server.tar.zst.gpg"),
      obj("lifeboat_2024-12-18_00-00-00_manifest.json"),
      // one-copy layout, complete and still uploading (no manifest yet)
      obj("lifeboat_2024-12-19_00-00-00_state.db.zst.gpg"),
      obj("lifeboat_2024-12-19_00-00-00_secrets.tar.zst.gpg"),
      obj("lifeboat_2024-12-19_00-00-00_manifest.json"),
      obj("lifeboat_2024-12-20_00-00-00_secrets.tar.zst.gpg"),
      obj("lifeboat_2024-12-20_00-00-00_state.db.zst.gpg"),
    ]);
    const byId = Object.fromEntries(sets.map((s) => [s.id, s]));
    expect(byId["lifeboat-2024-12-17_00-00-00"].missing).toEqual([]);
    expect(byId["lifeboat-2024-12-18_00-00-00"].missing).toEqual(["lifeboat-token"]);
    expect(byId["lifeboat-2024-12-19_00-00-00"].missing).toEqual([]);
    expect(byId["lifeboat-2024-12-19_00-00-00"].objects.map((o) => o.kind)).toEqual(["lifeboat-logical", "lifeboat-secrets", "manifest"]);
    expect(byId["lifeboat-2024-12-20_00-00-00"].missing).toEqual(["manifest"]);
  });

  it("keeps a seed set and a Lifeboat set of the same second apart", () => {
    const { sets } = groupObjects([obj("state_2024-12-18_00-00-00.db.gpg"), obj("lifeboat_2024-12-18_00-00-00_state.db.zst.gpg")]);
    expect(sets.map((s) => s.id).sort()).toEqual(["lifeboat-2024-12-18_00-00-00", "seed-2024-12-18_00-00-00"]);
  });

  it("lists junk, impossible dates and duplicates as other, with size and date, never dropping them", () => {
    const { sets, other } = groupObjects([
      obj("notes.txt", 5),
      obj("state_2024-02-30_00-00-00.db.gpg", 6),
      obj("a/state_2024-12-18_00-00-00.db.gpg", 7),
      obj("b/state_2024-12-18_00-00-00.db.gpg", 8),
    ]);
    expect(sets).toHaveLength(1);
    expect(sets[0].objects).toHaveLength(1);
    expect(other.map((o) => o.key)).toEqual(["b/state_2024-12-18_00-00-00.db.gpg", "notes.txt", "state_2024-02-30_00-00-00.db.gpg"]);
    expect(other[1]).toEqual({ key: "notes.txt", size: 5, lastModified: at });
  });

  it("a set of the same second under a folder (another cluster's, a copy) never takes the place of the store's own, nor mixes with it", () => {
    const ts = "2024-12-18_00-00-00";
    const own = [`lifeboat_${ts}_state.db.zst.gpg`, `lifeboat_${ts}_secrets.tar.zst.gpg`, `lifeboat_${ts}_manifest.json`];
    const b = own.map((k) => `cluster-b/${k}`);
    // Listed in key order: cluster-b/… comes first.
    const { sets, other } = groupObjects([...b, ...own].sort().map((k) => obj(k)));
    expect(sets).toHaveLength(1);
    expect(sets[0].objects.map((o) => o.key).sort()).toEqual([...own].sort());
    expect(sets[0].missing).toEqual([]);
    expect(other.map((o) => o.key)).toEqual([...b].sort());
    // The store's own set still uploading (no manifest yet): not completed by the folder's manifest.
    const uploading = groupObjects([...b, own[0]].sort().map((k) => obj(k)));
    expect(uploading.sets[0].objects.map((o) => o.key)).toEqual([own[0]]);
    expect(uploading.sets[0].missing).toContain("manifest");
    expect(uploading.other.map((o) => o.key)).toEqual([...b].sort());
  });

  it("an empty listing is an empty catalog", () => {
    expect(groupObjects([])).toEqual({ sets: [], other: [], log: { objects: 0, bytes: 0 } });
  });

  it("counts continuous protection's objects apart: neither sets nor unknown objects", () => {
    const t = new Date("2026-12-03T12:00:00Z");
    const g = groupObjects([
      { key: "k3s/lifeboat-log_20261203T120000Z_generation.json", size: 300, lastModified: t },
      { key: "k3s/lifeboat-log_20261203T120000Z_000000001201-000000001260_20261203T120010Z.sql.zst.gpg", size: 4000, lastModified: t },
      { key: "k3s/lifeboat-log_garbage.sql.zst.gpg", size: 1, lastModified: t },
    ]);
    expect(g.log).toEqual({ objects: 2, bytes: 4300 });
    expect(g.other.map((o) => o.key)).toEqual(["k3s/lifeboat-log_garbage.sql.zst.gpg"]);
  });
});
