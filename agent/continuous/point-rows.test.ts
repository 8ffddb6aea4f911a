import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { FsBackupStore } from "../../lib/storage/fs-backup-store";
import { listAll } from "../../lib/storage/backup-store";
import { parseSegmentKey, segmentKey, type SegmentName } from "../../lib/contracts/continuous";
import { openKineDb, KINE_INSERT_SQL, KINE_COMPACT_SQL, KINE_SET_COMPACT_REV_SQL } from "../kine/schema";
import { prng } from "../kine/simulator";
import { dumpKine } from "../testing/continuous-fixtures";
import { applyLog, prepareLog } from "./apply";
import { compactLog } from "./compaction";
import { effectiveSegments } from "./log-listing";
import { LogReader } from "./reader";
import { encodeSegment } from "./segment-codec";
import { formatSegment } from "./segment-format";

/**
 * Row for row, at every revision: a kine database written at random (creates, updates, deletes and
 * keys created again, values binary, empty, invalid UTF-8, text that reads like SQL, an old_value of
 * another writer), compacted by kine now and then between reads; a copy of it taken after every
 * revision. Its log, read by the shipper's reader, restores every revision from every copy taken as a
 * base, walked and applied ahead, before log compaction folds it (6 h windows, and days of them) and
 * after, at every point still reachable. Each restore must equal the copy (rows with their SQLite
 * types, the AUTOINCREMENT counter, the compact revision).
 */

const PASS = "point rows passphrase";
const GEN = "20261203T000000Z";
let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-point-rows-"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function value(rand: () => number): Buffer {
  const odd = [
    Buffer.from([0x00, 0x01, 0xff, 0x27, 0x0a]),
    Buffer.from([0xc0, 0x80, 0x41]), // an overlong NUL
    Buffer.from([0xed, 0xa0, 0x80, 0x42]), // a UTF-16 surrogate
    Buffer.from([0xf4, 0x90, 0x80, 0x80]), // above U+10FFFF
    Buffer.from([0xe2, 0x82]), // cut short
    Buffer.from([0xf0, 0x9f, 0x98]), // cut short, decoded as one U+FFFD of the same length
    Buffer.from("it's\n;\nCOMMIT;\n-- x\nBEGIN;\n'';\nDELETE FROM kine WHERE id IN (2);\n", "utf8"),
    Buffer.alloc(0),
    Buffer.from("\ufeffé\r\nñ 😀 \u2028", "utf8"),
  ];
  const k = Math.floor(rand() * 15);
  return k < odd.length ? odd[k] : Buffer.from(`v${Math.floor(rand() * 1e6)}`);
}

describe("a point restore equals the live database at every revision", () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}`, async () => {
      const rand = prng(seed);
      const dir = path.join(work, `s${seed}`);
      mkdirSync(dir);
      const live = path.join(dir, "live.db");
      const db = openKineDb(live);
      const ins = db.prepare(KINE_INSERT_SQL);
      const other = db.prepare("INSERT INTO kine(name, created, deleted, create_revision, prev_revision, lease, value, old_value) VALUES (?,?,?,?,?,?,?,?)");
      const keys = new Map<string, { id: number; cr: number; deleted: boolean }>();
      const cur = () => db.prepare("SELECT IFNULL(MAX(id),0) FROM kine").pluck().get() as number;
      const put = (name: string, v: Buffer) => {
        const p = keys.get(name);
        if (!p || p.deleted) {
          const id = Number(ins.run(name, 1, 0, 0, p?.id ?? 0, 0, v, p?.id ?? 0).lastInsertRowid);
          keys.set(name, { id, cr: id, deleted: false });
        } else {
          const id = Number(
            (rand() < 0.1 ? other.run(name, 0, 0, p.cr, p.id, 0, v, Buffer.from("odd")) : ins.run(name, 0, 0, p.cr, p.id, 0, v, p.id)).lastInsertRowid,
          );
          keys.set(name, { id, cr: p.cr, deleted: false });
        }
      };
      const del = (name: string) => {
        const p = keys.get(name);
        if (!p || p.deleted) return false;
        const id = Number(ins.run(name, 0, 1, p.cr, p.id, 0, null, p.id).lastInsertRowid);
        keys.set(name, { id, cr: p.cr, deleted: true });
        return true;
      };
      const compactTo = (c: number) =>
        db.transaction(() => {
          db.prepare(KINE_COMPACT_SQL).run(c, c);
          db.prepare(KINE_SET_COMPACT_REV_SQL).run(c);
        })();
      const names = Array.from({ length: 6 }, (_, i) => `/registry/configmaps/ns/k-${i}'q`);
      const step = () => {
        const n = names[Math.floor(rand() * names.length)];
        if (!(rand() < 0.3 && del(n))) put(n, value(rand));
      };
      put("compact_rev_key", Buffer.alloc(0));
      for (let i = 0; i < 30; i++) step();
      if (seed === 1) put(names[0], Buffer.alloc(1 << 20, 0xfe)); // a large binary value
      compactTo(cur() - 5);
      // The live database as a copy after each revision (and after kine's compaction, at the read that follows it).
      const copies = new Map<number, string>();
      const copy = (suffix = "") => {
        const f = path.join(dir, `at-${cur()}${suffix}.db`);
        db.exec(`VACUUM INTO '${f}'`);
        copies.set(cur(), f);
      };
      copy();
      const baseRevision = cur();
      const store = new FsBackupStore(path.join(dir, "store"));
      const reader = new LogReader(live);
      const segments: SegmentName[] = [];
      let after = baseRevision;
      let clock = 0;
      for (let s = 0; s < 12; s++) {
        for (let w = 1 + Math.floor(rand() * 5); w > 0; w--) {
          step();
          copy();
        }
        // kine compacts, never past what was shipped (the shipper would begin a new generation).
        const now = db.prepare("SELECT prev_revision FROM kine WHERE name = 'compact_rev_key'").pluck().get() as number;
        if (rand() < 0.6 && after > now) {
          compactTo(after);
          copy("-compacted");
        }
        const read = await reader.read(after);
        const last = read.rows[read.rows.length - 1].id;
        clock += 1000 + Math.floor(rand() * 3 * 3600_000);
        const at = new Date(Date.UTC(2026, 11, 3) + clock);
        const key = segmentKey(GEN, after + 1, last, at);
        const text = formatSegment({ generation: GEN, first: after + 1, last, compactRevision: read.compactRevision, readAt: at.toISOString() }, read.rows);
        await store.put(key, Readable.from([await encodeSegment(text, PASS)]));
        segments.push(parseSegmentKey(key)!);
        after = last;
      }
      reader.close();
      db.close();

      let n = 0;
      const failures: string[] = [];
      const check = async (label: string, log: SegmentName[], from: number, targets: number[]) => {
        for (const target of targets)
          for (const mode of ["walked", "ahead"] as const) {
            const f = path.join(dir, `restored-${n++}.db`);
            copyFileSync(copies.get(from)!, f);
            try {
              const open = (k: string) => store.get(k);
              if (mode === "walked") await applyLog({ dbPath: f, segments: log, target, open, passphrase: PASS });
              else {
                const p = prepareLog({ segments: log, target, open, passphrase: PASS, baseRevision: from, startAfter: Promise.resolve() });
                await p.aheadIdle();
                await p.applyTo(f);
              }
              const got = dumpKine(f);
              const want = dumpKine(copies.get(target)!);
              if (JSON.stringify(got) !== JSON.stringify(want)) failures.push(`${label}, ${mode}, from ${from} to ${target}: not the live copy`);
            } catch (err) {
              failures.push(`${label}, ${mode}, from ${from} to ${target}: ${(err as Error).message}`);
            }
            rmSync(f);
          }
      };
      const revisions = [...copies.keys()].sort((a, b) => a - b);
      const bases = revisions.filter((_, i) => i % 7 === 0);
      for (const b of bases)
        await check(
          "log",
          segments,
          b,
          revisions.filter((r) => r >= b),
        );
      const folded = await compactLog(store, {
        passphrase: PASS,
        windowHours: 6,
        foldHours: seed === 2 ? 0 : 24,
        now: new Date(Date.UTC(2026, 11, 3) + clock + 24 * 3600_000),
        scratchDir: path.join(dir, "scratch"),
      });
      expect(folded.length).toBeGreaterThan(1);
      const listed: SegmentName[] = [];
      for await (const o of listAll(store, { prefix: "lifeboat-log_" })) {
        const s = parseSegmentKey(o.key);
        if (s) listed.push(s);
      }
      const log = effectiveSegments(listed.sort((a, b) => a.first - b.first));
      expect(log.some((s) => s.compacted)).toBe(true);
      // Reachable from base b: b itself, any revision of a plain segment, a compacted object's end, and its start.
      const reachable = (b: number, r: number) =>
        r === b || log.some((s) => (s.compacted ? r === s.last || (r === s.first - 1 && r >= b) : s.first <= r && r <= s.last));
      for (const b of bases)
        await check(
          "folded",
          log,
          b,
          revisions.filter((r) => r >= b && reachable(b, r)),
        );
      expect(failures).toEqual([]);
    }, 300_000);
  }
});
