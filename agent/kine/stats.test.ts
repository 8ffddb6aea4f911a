import { describe, it, expect, vi } from "vitest";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import type { KineStats, KeyPrefixStat } from "../../lib/contracts/manifest";
import { generateKineDb } from "./generator";
import { comparePrefixNames, keyPrefix, keySubPrefix, readKineStats } from "./stats";
import { objectCreationTime } from "./object-time";

const tmp = () => mkdtempSync(path.join(tmpdir(), "lifeboat-stats-"));

interface Row {
  id: number;
  name: string | null;
  deleted: unknown;
  created: unknown;
  prev: unknown;
  bytes: number;
  value: Buffer | string | null;
}

/** SQL's `x != 0` / `x = 0` on a column value (NULL compares to nothing; text is never equal to a number). */
const sqlNotZero = (v: unknown) => v !== null && v !== 0;
const sqlIsZero = (v: unknown) => v === 0;

/**
 * KineStats by their definitions, over every row read into JavaScript: no index, no SQL trick. The
 * optimised readKineStats must give exactly this.
 */
function referenceStats(db: Database.Database, file: string, top = 10): KineStats {
  const rows = db
    .prepare(
      "SELECT id, name, deleted, created, prev_revision AS prev, value, IFNULL(length(value), 0) + IFNULL(length(old_value), 0) AS bytes FROM kine NOT INDEXED ORDER BY id",
    )
    .all() as Row[];
  const pageSize = db.pragma("page_size", { simple: true }) as number;
  const pageCount = db.pragma("page_count", { simple: true }) as number;
  const freelistCount = db.pragma("freelist_count", { simple: true }) as number;
  const currentRevision = rows.reduce((m, r) => Math.max(m, r.id), 0);
  const compactRevision = rows.filter((r) => r.name === "compact_rev_key").reduce((m, r) => Math.max(m, Number(r.prev ?? 0)), 0);
  // kine's compaction query: ids that are some (non-compact_rev_key) row's prev_revision, and tombstones.
  const superseded = new Set(rows.filter((r) => r.name !== null && r.name !== "compact_rev_key" && r.prev !== null && r.prev !== 0).map((r) => r.prev));
  const uncompactedRows = rows.filter((r) => sqlNotZero(r.deleted) || superseded.has(r.id)).length;
  // Newest row per key (ids ascend), keys other than compact_rev_key and gap-* (LIKE ignores ASCII case).
  const newest = new Map<string, Row>();
  for (const r of rows) if (r.name !== null && r.name !== "compact_rev_key" && !r.name.toLowerCase().startsWith("gap-")) newest.set(r.name, r);
  const live = [...newest.values()].filter((r) => sqlIsZero(r.deleted));
  const group = (prefixOf: (name: string | null) => string | null) => {
    const out = new Map<string, KeyPrefixStat>();
    for (const r of rows) {
      const p = prefixOf(r.name);
      if (p === null) continue;
      const e = out.get(p) ?? { prefix: p, rows: 0, bytes: 0, liveKeys: 0 };
      e.rows++;
      e.bytes += r.bytes;
      out.set(p, e);
    }
    for (const r of live) {
      const p = prefixOf(r.name);
      if (p !== null) out.get(p)!.liveKeys!++;
    }
    return [...out.values()];
  };
  const prefixes = group(keyPrefix);
  const byRows = (a: KeyPrefixStat, b: KeyPrefixStat) => b.rows - a.rows || a.prefix.localeCompare(b.prefix);
  // The first create row after the compact revision whose object tells its creation time.
  const firstTimed = compactRevision
    ? rows.filter((r) => r.id > compactRevision && r.id <= compactRevision + 10_000 && r.created === 1 && r.value !== null).slice(0, 50)
    : [];
  const written = firstTimed.map((r) => objectCreationTime(r.value)).find((t) => t !== null) ?? null;
  return {
    fileSize: statSync(file).size,
    pageSize,
    pageCount,
    freelistCount,
    rowCount: rows.length,
    currentRevision,
    compactRevision,
    compactionLag: Math.max(0, currentRevision - compactRevision),
    uncompactedRows,
    liveKeys: live.length,
    topPrefixesByRows: [...prefixes].sort(byRows).slice(0, top),
    topPrefixesByBytes: [...prefixes].sort((a, b) => b.bytes - a.bytes || a.prefix.localeCompare(b.prefix)).slice(0, top),
    prefixes: [...prefixes].sort(byRows),
    subPrefixes: group(keySubPrefix).sort(byRows).slice(0, 25),
    compactRevisionWrittenAt: written?.toISOString() ?? null,
  };
}

describe("readKineStats gives the numbers of their plain definitions", () => {
  it("on a database that was compacted, then stuck, with odd rows added", () => {
    const file = path.join(tmp(), "state.db");
    generateKineDb(file, { targetBytes: 1_500_000, compaction: "stuck-after-healthy", seed: 31 });
    const db = new Database(file);
    const ins = db.prepare(
      "INSERT INTO kine (name, created, deleted, create_revision, prev_revision, lease, value, old_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    );
    const maxId = db.prepare("SELECT MAX(id) FROM kine").pluck().get() as number;
    db.transaction(() => {
      ins.run("gap-900001", 0, 0, 0, 0, 0, null, null);
      ins.run("GAP-upper", 0, 0, 0, 0, 0, Buffer.from("x"), null); // LIKE 'gap-%' matches it; keyPrefix does not
      ins.run("/single", 1, 0, 0, 0, 0, Buffer.alloc(10), null);
      ins.run("/registry/onlytwo", 1, 0, 0, 0, 0, Buffer.alloc(20), Buffer.alloc(3));
      ins.run("noslash", 1, 0, 0, 0, 0, "héllo", null); // text: length() counts characters
      ins.run(null, 1, 0, 0, 0, 0, Buffer.alloc(7), null);
      const nullDeleted = Number(ins.run("/registry/odd/x/null-deleted", 1, null, 0, 0, 0, Buffer.alloc(5), null).lastInsertRowid);
      ins.run("/registry/odd/x/null-deleted", 0, 0, nullDeleted, nullDeleted, 0, Buffer.alloc(6), Buffer.alloc(5)); // supersedes a row whose deleted is NULL
      ins.run("/registry/odd/x/two", 0, 2, 0, maxId + 10_000, 0, null, null); // deleted = 2; prev points at no row
      ins.run("/registry/odd/x/prev-null", 1, 0, 0, null, 0, Buffer.alloc(1), null);
    })();
    const got = readKineStats(db, file);
    const want = referenceStats(db, file);
    expect(got).toEqual(want);
    // The odd rows are really in it (the comparison covers them).
    expect(got.topPrefixesByRows.length).toBe(10);
    expect(readKineStats(db, file, { top: 100 }).topPrefixesByRows.map((p) => p.prefix)).toEqual(
      expect.arrayContaining(["gap-*", "GAP-upper", "/single", "/registry/onlytwo", "noslash", "(null)", "/registry/odd"]),
    );
    db.close();
  });

  it("on a healthy compacted database and on a stuck one, readonly, leaving the connection's mmap setting as it was", () => {
    for (const compaction of ["healthy", "stuck"] as const) {
      const file = path.join(tmp(), "state.db");
      generateKineDb(file, { targetBytes: 1_200_000, compaction, seed: 32 });
      const db = new Database(file, { readonly: true });
      expect(readKineStats(db, file)).toEqual(referenceStats(db, file));
      expect(db.pragma("mmap_size", { simple: true })).toBe(0);
      db.close();
    }
  });

  it("on an empty kine table", () => {
    const file = path.join(tmp(), "state.db");
    const db = new Database(file);
    db.exec(
      "CREATE TABLE kine (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, created INTEGER, deleted INTEGER, create_revision INTEGER, prev_revision INTEGER, lease INTEGER, value BLOB, old_value BLOB)",
    );
    expect(readKineStats(db, file)).toEqual(referenceStats(db, file));
    expect(readKineStats(db, file).rowCount).toBe(0);
    db.close();
  });
});

/** A protobuf field: key varint, then the varint value or length-prefixed bytes. */
function pb(field: number, value: number | Buffer): Buffer {
  const varint = (n: number) => {
    const out: number[] = [];
    while (n >= 128) {
      out.push((n % 128) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(n);
    return Buffer.from(out);
  };
  return typeof value === "number" ? Buffer.concat([varint(field * 8), varint(value)]) : Buffer.concat([varint(field * 8 + 2), varint(value.length), value]);
}

/** An Event as k3s stores it: "k8s\0" + runtime.Unknown{typeMeta, raw: Event{metadata{name, namespace, creationTimestamp}}}. */
function protobufEvent(name: string, created: Date): Buffer {
  const meta = Buffer.concat([
    pb(1, Buffer.from(name)),
    pb(3, Buffer.from("apps")),
    pb(6, Buffer.from("12345")),
    pb(8, Buffer.concat([pb(1, Math.floor(created.getTime() / 1000)), pb(2, 0)])),
  ]);
  const raw = Buffer.concat([pb(1, meta), pb(2, Buffer.from("involved object")), pb(3, Buffer.from("Scheduled"))]);
  const typeMeta = Buffer.concat([pb(1, Buffer.from("v1")), pb(2, Buffer.from("Event"))]);
  return Buffer.concat([Buffer.from("k8s\u0000", "latin1"), pb(1, typeMeta), pb(2, raw), pb(4, Buffer.from("application/vnd.kubernetes.protobuf"))]);
}

describe("when compaction last advanced", () => {
  it("is read from the creationTimestamp of the first object created after the compact revision, protobuf or JSON", () => {
    const file = path.join(tmp(), "state.db");
    generateKineDb(file, { targetBytes: 2_000_000, compaction: "healthy", seed: 33 });
    const db = new Database(file);
    const compactRev = db.prepare("SELECT prev_revision FROM kine WHERE name = 'compact_rev_key'").pluck().get() as number;
    expect(compactRev).toBeGreaterThan(0);
    // The simulator's values carry no creation time: give the tenth object created after the
    // compact revision a real one (the nine before it still tell nothing, so the search goes on).
    const creates = db.prepare("SELECT id FROM kine WHERE id > ? AND created = 1 ORDER BY id LIMIT 10").pluck().all(compactRev) as number[];
    const target = creates[9];
    const setValue = db.prepare("UPDATE kine SET value = ? WHERE id = ?");
    const when = new Date("2024-12-15T09:30:00Z");
    setValue.run(protobufEvent("timed.1", when), target);
    expect(readKineStats(db, file)).toEqual(referenceStats(db, file));
    expect(readKineStats(db, file).compactRevisionWrittenAt).toBe(when.toISOString());
    setValue.run(JSON.stringify({ metadata: { name: "w", creationTimestamp: "2024-12-14T08:00:00Z" } }), target);
    expect(readKineStats(db, file).compactRevisionWrittenAt).toBe("2024-12-14T08:00:00.000Z");
    db.close();
  });

  it("is null for values that carry no time, and for a database kine never compacted", () => {
    expect(objectCreationTime(null)).toBeNull();
    expect(objectCreationTime(Buffer.from("k8s\u0000\n\u0002v1\u0012\u0004Kind\u001a{}"))).toBeNull(); // the simulator's stand-in values
    expect(objectCreationTime(Buffer.from("k8s\u0000\u00ff\u00ff\u00ff"))).toBeNull();
    expect(objectCreationTime("{not json")).toBeNull();
    expect(objectCreationTime(JSON.stringify({ metadata: { creationTimestamp: "1970-01-01T00:00:00Z" } }))).toBeNull();
    expect(objectCreationTime(protobufEvent("e", new Date("2025-03-01T12:00:00Z")))?.toISOString()).toBe("2025-03-01T12:00:00.000Z");
    const file = path.join(tmp(), "state.db");
    generateKineDb(file, { targetBytes: 400_000, compaction: "stuck", seed: 34 });
    const db = new Database(file, { readonly: true });
    expect(readKineStats(db, file).compactRevisionWrittenAt).toBeNull();
    db.close();
  });
});

describe("key prefixes", () => {
  it("three segments only when the key goes deeper", () => {
    expect(keySubPrefix("/registry/leases/kube-system/k3s")).toBe("/registry/leases/kube-system");
    expect(keySubPrefix("/registry/services/specs/apps/app-0")).toBe("/registry/services/specs");
    expect(keySubPrefix("/registry/minions/pi-server")).toBeNull();
    expect(keySubPrefix("compact_rev_key")).toBeNull();
    expect(keySubPrefix(null)).toBeNull();
  });
});

describe("the order of prefix names", () => {
  it("is localeCompare's for every pair of names of up to two characters, usual or not", () => {
    const chars = [..."_-.*/0123456789abcdefghijklmnopqrstuvwxyz", "A", "Z", "~", " ", ":", "é", "ß"];
    const names = [""];
    for (const a of chars) {
      names.push(a);
      for (const b of chars) names.push(a + b);
    }
    const wrong: string[] = [];
    for (const x of names)
      for (const y of names) if (Math.sign(comparePrefixNames(x, y)) !== Math.sign(x.localeCompare(y))) wrong.push(`${JSON.stringify(x)} ${JSON.stringify(y)}`);
    expect(wrong.slice(0, 10)).toEqual([]);
  });

  it("is reached without localeCompare for kine's usual names (ICU's collation data stays out of the SQLite worker)", () => {
    const file = path.join(tmp(), "state.db");
    generateKineDb(file, { targetBytes: 1_200_000, compaction: "stuck-after-healthy", seed: 33 });
    const db = new Database(file, { readonly: true });
    const spy = vi.spyOn(String.prototype, "localeCompare");
    try {
      const stats = readKineStats(db, file, { top: 100 });
      // Some prefixes have as many rows as another: their names decided part of the order.
      const prefixes = stats.prefixes ?? [];
      const rows = prefixes.map((p) => p.rows);
      expect(new Set(rows).size).toBeLessThan(rows.length);
      expect(prefixes.map((p) => p.prefix)).toEqual(expect.arrayContaining(["compact_rev_key", "/registry/leases"]));
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
      db.close();
    }
  });
});
