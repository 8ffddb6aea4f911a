import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import type { RecoveryReport } from "../../lib/contracts/agent-recovery";
import { startRecoveryJob } from "./ladder";
import { auditKineRows, erasedCopy } from "./kine-soundness";
import {
  btreePages,
  eraseBlock,
  kineRowDigests,
  kineRowPages,
  makeKineFixture,
  overwritePage,
  plantForeignWal,
  recoveryCase,
  rootPage,
  truncateToFraction,
  zeroBytes,
  type KineFixture,
} from "../testing/corrupt";

/**
 * Sound salvage (issue 11): whatever the damage, the ladder's best result holds only rows exactly as
 * kine wrote them. Held-out damage — noise and zeros on table leaves, interior pages, the root, index
 * pages and overflow pages, an SD card's erased block, truncation, a zeroed header, a garbled page 1,
 * a foreign WAL — on a database written by the kine simulator; the oracle is that database itself,
 * and which pages hold which row comes from SQLite's dbstat, not from Lifeboat's reader.
 */

let work: string;
let fixture: KineFixture;
let template: string;
let original: Map<number, string>;
let rowPages: Map<number, number[]>;
/** Per row: its successor's and predecessor's ids in the original (the rows holding its two copies). */
let twins: Map<number, { succ: number | null; pred: number | null }>;
let prevOf: Map<number, number>;

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-sound-"));
  template = path.join(work, "template.db");
  fixture = makeKineFixture(template, { seed: 23 });
  original = kineRowDigests(template);
  rowPages = kineRowPages(template);
  const db = new Database(template, { readonly: true });
  const rows = db.prepare("SELECT id, name, prev_revision FROM kine").all() as { id: number; name: string; prev_revision: number }[];
  db.close();
  const ids = new Set(rows.map((r) => r.id));
  prevOf = new Map(rows.map((r) => [r.id, r.prev_revision]));
  twins = new Map(rows.map((r) => [r.id, { succ: null, pred: r.name !== "compact_rev_key" && ids.has(r.prev_revision) ? r.prev_revision : null }]));
  for (const r of rows) if (r.name !== "compact_rev_key" && ids.has(r.prev_revision)) twins.get(r.prev_revision)!.succ = r.id;
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

let n = 0;
async function ladderOn(damage: (db: string) => void): Promise<RecoveryReport> {
  const c = recoveryCase(path.join(work, `case-${++n}`), template, fixture.token);
  damage(c.dbPath);
  const job = await startRecoveryJob(c.deps, { compareWith: "none" }).done;
  expect(job.state, job.error ?? "").toBe("succeeded");
  return job.result as RecoveryReport;
}

/**
 * What every case must show. The best result: no row differs from the original, none is extra (a
 * compacted row brought back), every row the damage did not touch is there — unless the kine check
 * dropped it as the other copy of a damaged row, and then it says so. Every dropped row is listed,
 * absent and named by key and revision; every repaired one is there, byte for byte.
 */
function expectSound(report: RecoveryReport, damaged: Set<number>): { hit: number[]; lost: number[]; best: RecoveryReport["rungs"][number] } {
  expect(report.best, report.recommendation).not.toBeNull();
  const best = report.rungs.find((r) => r.name === report.best!.rung)!;
  const got = kineRowDigests(report.best!.path);
  const altered = [...got].filter(([id, h]) => original.has(id) && original.get(id) !== h).map(([id]) => id);
  const extra = [...got.keys()].filter((id) => !original.has(id));
  expect({ altered, extra }).toEqual({ altered: [], extra: [] });
  const hit = [...rowPages].filter(([, pages]) => pages.some((p) => damaged.has(p))).map(([id]) => id);
  const hitSet = new Set(hit);
  const dropped = new Map((best.soundness?.droppedRows ?? []).map((d) => [d.revision, d]));
  for (const d of dropped.values()) expect(got.has(d.revision), `dropped ${d.key}@${d.revision} is gone`).toBe(false);
  for (const r of best.soundness?.repairedRows ?? []) expect(got.get(r.revision), `repaired ${r.key}@${r.revision}`).toBe(original.get(r.revision));
  const lost = [...original.keys()].filter((id) => !got.has(id) && !hitSet.has(id));
  for (const id of lost) {
    // An untouched row may only go as the other copy of a damaged one, and listed.
    expect(dropped.has(id), `row ${id}, untouched by the damage, is missing and not listed`).toBe(true);
    const t = twins.get(id)!;
    expect(
      [t.succ, t.pred].some((x) => x !== null && hitSet.has(x)),
      `row ${id} dropped without a damaged twin`,
    ).toBe(true);
  }
  // Whatever the kine check repaired or dropped, the result still opens as a whole database.
  expect(best.integrity).toBe("ok");
  return { hit, lost, best };
}

/**
 * A row whose value and old_value both have their second copy in the file (or, `created`, a create
 * whose old_value is NULL and whose value has its copy), with a payload over `minPages` pages or more.
 */
function rowWithTwins(minPages: number, skip = 0, created = false): { id: number; pages: number[] } {
  const found = [...rowPages].filter(
    ([id, p]) => p.length >= minPages && twins.get(id)!.succ !== null && (created ? prevOf.get(id) === 0 : twins.get(id)!.pred !== null),
  );
  expect(found.length).toBeGreaterThan(skip);
  const [id, pages] = found[skip];
  return { id, pages };
}

describe("the kine check on its own", () => {
  it("finds nothing to change in a healthy database, and confirms every row that has a second copy", () => {
    const r = auditKineRows(template, { repair: false })!;
    expect(r).toMatchObject({ checked: fixture.rows, repaired: 0, dropped: 0 });
    expect(r.confirmed + r.unverifiable).toBe(fixture.rows);
    expect(r.confirmed).toBeGreaterThan(fixture.rows / 2);
  });

  it("puts a zeroed stretch back from the other copy; drops both rows when nothing says which copy changed; drops a compacted row and a broken chain", () => {
    const file = path.join(work, "edited.db");
    copyFileSync(template, file);
    const db = new Database(file);
    const pairs = db
      .prepare(
        `SELECT r.id AS r, p.id AS p FROM kine r JOIN kine p ON p.id = r.prev_revision
         WHERE r.name = p.name AND length(p.value) > 200 AND r.name != 'compact_rev_key' AND r.name NOT LIKE '/bootstrap/%' ORDER BY r.id`,
      )
      .all() as { r: number; p: number }[];
    const [zeroed, flipped, relinked] = [pairs[10], pairs[40], pairs[80]];
    const setValue = (id: number, edit: (v: Buffer) => void) => {
      const v = Buffer.from(db.prepare("SELECT value FROM kine WHERE id = ?").pluck().get(id) as Buffer);
      edit(v);
      db.prepare("UPDATE kine SET value = ? WHERE id = ?").run(v, id);
    };
    // 64 bytes of P's value zeroed (an erased stretch): its copy in R's old_value says what they were.
    setValue(zeroed.p, (v) => v.fill(0, 100, 164));
    // One byte of P's value changed: either copy could be the damaged one.
    setValue(flipped.p, (v) => (v[151] ^= 0x5a));
    // A prev_revision pointing at another key's row: the chain is broken.
    const other = db
      .prepare("SELECT id FROM kine WHERE name != (SELECT name FROM kine WHERE id = ?) AND id < ? ORDER BY id DESC LIMIT 1")
      .pluck()
      .get(relinked.r, relinked.r) as number;
    db.prepare("UPDATE kine SET prev_revision = ? WHERE id = ?").run(other, relinked.r);
    // A row compaction had deleted, back from a stale page: a newer row of its key at or below the compact revision supersedes it.
    const compactRev = db.prepare("SELECT prev_revision FROM kine WHERE name = 'compact_rev_key'").pluck().get() as number;
    const live = db.prepare("SELECT id, name FROM kine WHERE id <= ? AND name LIKE '/registry/leases/%' ORDER BY id DESC LIMIT 1").get(compactRev) as {
      id: number;
      name: string;
    };
    const stale = db.prepare("SELECT MAX(id) + 1 FROM kine WHERE id < ? AND id + 1 NOT IN (SELECT id FROM kine)").pluck().get(live.id) as number;
    db.prepare(
      "INSERT INTO kine (id, name, created, deleted, create_revision, prev_revision, lease, value, old_value) VALUES (?, ?, 0, 0, 1, ?, 0, X'00', NULL)",
    ).run(stale, live.name, 1_000_000_000 + stale);
    db.close();

    const r = auditKineRows(file, { repair: true })!;
    expect(r.repairedRows).toEqual([{ key: expect.any(String), revision: zeroed.p, columns: ["value"], from: zeroed.r }]);
    expect(r.droppedRows.map((d) => d.revision).sort((a, b) => a - b)).toEqual([flipped.p, flipped.r, relinked.r, stale].sort((a, b) => a - b));
    expect(r.droppedRows.find((d) => d.revision === flipped.r)?.reason).toMatch(/differ, and nothing shows which is damaged/);
    expect(r.droppedRows.find((d) => d.revision === relinked.r)?.reason).toMatch(/does not lead to the previous row of its key/);
    expect(r.droppedRows.find((d) => d.revision === stale)?.reason).toMatch(/compaction had deleted it/);
    const after = kineRowDigests(file);
    expect(after.get(zeroed.p)).toBe(original.get(zeroed.p));
    for (const id of [flipped.p, flipped.r, relinked.r, stale]) expect(after.has(id)).toBe(false);
  });

  it("tells an erased copy from a changed one only by an all-0x00 or all-0xFF stretch of 16 bytes or more", () => {
    const data = Buffer.from("k8s\u0000 some protobuf bytes of a pod object");
    const zeroed = Buffer.from(data).fill(0, 5, 21);
    const ff = Buffer.from(data).fill(0xff, 5, 21);
    const noise = Buffer.from(data);
    noise[7] ^= 0x41;
    expect(erasedCopy(zeroed, data)).toBe("a");
    expect(erasedCopy(data, ff)).toBe("b");
    expect(erasedCopy(noise, data)).toBeNull();
    expect(erasedCopy(data, data)).toBeNull();
    expect(erasedCopy(data, Buffer.concat([data, Buffer.alloc(1)]))).toBeNull();
    // One flipped bit where the intact copy has a 0x00 (or 0xFF) byte: the intact copy is not "erased".
    const flipped = Buffer.from(data);
    flipped[3] ^= 0x01; // the NUL after "k8s"
    expect(erasedCopy(flipped, data)).toBeNull();
    expect(erasedCopy(data, flipped)).toBeNull();
    // Nor is a stretch shorter than 16 bytes, as protobuf's runs of zeros are.
    expect(erasedCopy(Buffer.from(data).fill(0, 5, 20), data)).toBeNull();
  });
});

describe("held-out damage: the best result holds only rows as kine wrote them", () => {
  const page = (p: number, mode: "zero" | "random") => (db: string) => overwritePage(db, p, fixture.pageSize, mode, 1000 + p);

  for (const mode of ["random", "zero"] as const) {
    it(`${mode} on the last overflow page of a row with both copies: the row is put back, byte for byte`, async () => {
      const { id, pages } = rowWithTwins(2);
      const last = pages[pages.length - 1];
      const report = await ladderOn(page(last, mode));
      const { best } = expectSound(report, new Set([last]));
      expect(kineRowDigests(report.best!.path).get(id)).toBe(original.get(id));
      expect(report.rungs.some((r) => r.soundness?.repairedRows.some((x) => x.revision === id))).toBe(true);
      expect(best.soundness!.dropped).toBe(0);
    });

    it(`${mode} on the last overflow page of a create (its old_value NULL) that was updated since: its value comes back`, async () => {
      const { id, pages } = rowWithTwins(2, 0, true);
      const report = await ladderOn(page(pages[pages.length - 1], mode));
      expectSound(report, new Set([pages[pages.length - 1]]));
      expect(kineRowDigests(report.best!.path).get(id)).toBe(original.get(id));
    });

    it(`${mode} on the first of two overflow pages: value and old_value both come back from their copies`, async () => {
      const { id, pages } = rowWithTwins(3);
      const report = await ladderOn(page(pages[1], mode));
      expectSound(report, new Set([pages[1]]));
      expect(kineRowDigests(report.best!.path).get(id)).toBe(original.get(id));
    });

    it(`${mode} on a table leaf page`, async () => {
      const leaf = btreePages(template, "kine").filter((p) => p.pagetype === "leaf" && p.ncell >= 3)[25];
      const report = await ladderOn(page(leaf.pageno, mode));
      const { hit } = expectSound(report, new Set([leaf.pageno]));
      expect(hit.length).toBe(leaf.ncell);
    });

    it(`${mode} on a table interior page and on the root`, async () => {
      const root = rootPage(template);
      const interior = btreePages(template, "kine").filter((p) => p.pagetype === "internal" && p.pageno !== root)[1];
      for (const p of [interior.pageno, root]) {
        const report = await ladderOn(page(p, mode));
        expect(expectSound(report, new Set([p])).best.rows).toBe(fixture.rows);
      }
    });

    it(`${mode} on an index leaf page`, async () => {
      const leaf = btreePages(template, "kine_name_id_index").filter((p) => p.pagetype === "leaf")[2];
      const report = await ladderOn(page(leaf.pageno, mode));
      expect(expectSound(report, new Set()).best.rows).toBe(fixture.rows);
    });

    it(`${mode} on several overflow pages at once`, async () => {
      const overflow = btreePages(template, "kine").filter((p) => p.pagetype === "overflow");
      const chosen = [3, 11, 19, 27, 35].map((i) => overflow[i % overflow.length].pageno);
      const report = await ladderOn((db) => chosen.forEach((p) => page(p, mode)(db)));
      expectSound(report, new Set(chosen));
    });
  }

  for (const byte of [0xff, 0x00] as const) {
    it(`an SD card's erased block (${byte === 0xff ? "0xFF" : "0x00"}, 128 KiB) in the middle of the file`, async () => {
      const pages = Math.floor((128 * 1024) / fixture.pageSize);
      const first = Math.floor(fixture.bytes / fixture.pageSize / 2) + (byte === 0xff ? 0 : 17);
      const report = await ladderOn((db) => eraseBlock(db, first, pages, fixture.pageSize, byte));
      const damaged = new Set(Array.from({ length: pages }, (_, i) => first + i));
      const { hit } = expectSound(report, damaged);
      expect(hit.length).toBeGreaterThan(0);
    });
  }

  for (const fraction of [0.5, 0.9]) {
    it(`the file truncated to ${fraction * 100} %`, async () => {
      let left = 0;
      const report = await ladderOn((db) => (left = truncateToFraction(db, fraction, fixture.pageSize)));
      const damaged = new Set(Array.from({ length: Math.ceil(fixture.bytes / fixture.pageSize) }, (_, i) => i + 1).filter((p) => p > left));
      expectSound(report, damaged);
    });
  }

  it("the header zeroed, and page 1 garbled", async () => {
    for (const damage of [(db: string) => zeroBytes(db, 0, 100), page(1, "random")]) {
      const report = await ladderOn(damage);
      expect(expectSound(report, new Set([1])).best.rows).toBe(fixture.rows);
    }
  });

  it("a foreign WAL next to the file", async () => {
    const report = await ladderOn((db) => plantForeignWal(db, path.join(work, `other-${n}.db`)));
    expect(report.wal.foreign).toBe(true);
    expect(expectSound(report, new Set()).best.rows).toBe(fixture.rows);
  });
});
