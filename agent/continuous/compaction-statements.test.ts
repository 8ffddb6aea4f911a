import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { FsBackupStore } from "../../lib/storage/fs-backup-store";
import { parseSegmentKey, segmentKey, type SegmentName } from "../../lib/contracts/continuous";
import { openKineDb, KINE_INSERT_SQL } from "../kine/schema";
import { dumpKine } from "../testing/continuous-fixtures";
import { applyLog } from "./apply";
import { compactWindow } from "./compaction";
import { LogReader } from "./reader";
import { decodeSegment, encodeSegment } from "./segment-codec";
import { formatSegment, type KineRow } from "./segment-format";

/**
 * A fold reads its objects statement by statement (compaction.ts): a row's value is written raw inside
 * its literal when it is text (newlines too), so a value whose lines read like the fold's own
 * statements — a ConfigMap holding a SQL script — is text, not a deletion the compacted object owes.
 * Read line by line, `DELETE FROM kine WHERE id IN (2);` inside a value went into the compacted
 * object's tail, and every restore through it deleted row 2 of the base.
 */

const PASS = "compaction statements passphrase";
const GEN = "20261203T120000Z";
let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-compaction-statements-"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("a fold reads statements, not lines", () => {
  it("a value holding the line `DELETE FROM kine WHERE id IN (2);` deletes nothing: the fold restores the live database row for row", async () => {
    const live = path.join(work, "live.db");
    const db = openKineDb(live);
    const ins = db.prepare(KINE_INSERT_SQL);
    ins.run("compact_rev_key", 1, 0, 0, 0, 0, null, 0);
    ins.run("/registry/namespaces/important", 1, 0, 0, 0, 0, Buffer.from("live namespace"), 0); // row 2
    ins.run("/registry/configmaps/default/x", 1, 0, 0, 0, 0, Buffer.from("x"), 0);
    const base = path.join(work, "base.db");
    db.exec(`VACUUM INTO '${base}'`);
    mkdirSync(path.join(work, "store"));
    const store = new FsBackupStore(path.join(work, "store"));
    const reader = new LogReader(live);
    const segments: SegmentName[] = [];
    let after = 3;
    try {
      for (let k = 0; k < 3; k++) {
        // A ConfigMap whose data is a SQL script: text (UTF-8, no NUL), so written as CAST('…' AS BLOB), newlines raw.
        const script = `-- cleanup script\nDELETE FROM kine WHERE id IN (2);\nDELETE FROM kine WHERE id IN (3,${after});\nSELECT 1;`;
        ins.run(`/registry/configmaps/default/script-${k}`, 1, 0, 0, 0, 0, Buffer.from(script), 0);
        const read = await reader.read(after);
        const first = after + 1;
        const last = read.rows[read.rows.length - 1].id;
        const at = new Date(Date.UTC(2026, 11, 3, 0, 0, 10 * (k + 1)));
        const key = segmentKey(GEN, first, last, at);
        const text = formatSegment({ generation: GEN, first, last, compactRevision: read.compactRevision, readAt: at.toISOString() }, read.rows);
        expect(text).toContain("\nDELETE FROM kine WHERE id IN (2);\n"); // the line is there, inside the literal
        await store.put(key, Readable.from([await encodeSegment(text, PASS)]));
        segments.push(parseSegmentKey(key)!);
        after = last;
      }
    } finally {
      reader.close();
      db.close();
    }
    const restore = async (name: string, from: SegmentName[]) => {
      const file = path.join(work, name);
      copyFileSync(base, file);
      await applyLog({ dbPath: file, segments: from, target: after, open: (k) => store.get(k), passphrase: PASS });
      return dumpKine(file).rows;
    };
    const liveRows = dumpKine(live).rows;
    expect(await restore("plain.db", segments)).toEqual(liveRows);
    const r = await compactWindow(store, segments, {
      passphrase: PASS,
      windowHours: 6,
      now: new Date(Date.UTC(2026, 11, 3, 7)),
      scratchDir: path.join(work, "scratch"),
    });
    expect(r?.segmentsFolded).toBe(3);
    const folded = await restore("folded.db", [parseSegmentKey(r!.key)!]);
    expect(folded.map((x) => JSON.parse(x)[1])).toContain("/registry/namespaces/important");
    expect(folded).toEqual(liveRows);
  });

  it("a row's old_value stays a sub-select by its statement's end (a value with newlines too), and a value's line never makes one", async () => {
    const store = new FsBackupStore(path.join(work, "rebuilt"));
    const row = (id: number, name: string, prev: number, value: string, old: string | null, rebuildable: boolean): KineRow => ({
      id,
      name,
      created: prev === 0 ? 1 : 0,
      deleted: 0,
      create_revision: id,
      prev_revision: prev,
      lease: 0,
      value: Buffer.from(value),
      old_value: old === null ? null : Buffer.from(old),
      oldValueRebuildable: rebuildable,
    });
    // Row 12's old_value was carried as bytes (its row before was gone when it was read); row 13's value
    // holds a line that reads like row 12's INSERT with a sub-select.
    const fake = `INSERT INTO kine(id,name,created,deleted,create_revision,prev_revision,lease,value,old_value) SELECT 12,'/registry/c',0,0,5,5,0,X'78',(SELECT value FROM kine WHERE id = 5) WHERE 12 > (SELECT IFNULL(MAX(id),0) FROM kine);`;
    const texts = [
      [row(10, "/registry/b", 0, "b1\nsecond line", null, false), row(11, "/registry/b", 10, "b2\nsecond line", "b1\nsecond line", true)],
      [row(12, "/registry/c", 5, "x", "c before", false), row(13, "/registry/configmaps/s", 0, `script\n${fake}\nend`, null, false)],
    ];
    const segments: SegmentName[] = [];
    for (const [i, rows] of texts.entries()) {
      const at = new Date(Date.UTC(2026, 11, 3, 0, 0, 10 * (i + 1)));
      const [first, last] = [rows[0].id, rows[rows.length - 1].id];
      const key = segmentKey(GEN, first, last, at);
      const text = formatSegment({ generation: GEN, first, last, compactRevision: 0, readAt: at.toISOString() }, rows);
      await store.put(key, Readable.from([await encodeSegment(text, PASS)]));
      segments.push(parseSegmentKey(key)!);
    }
    const r = await compactWindow(store, segments, {
      passphrase: PASS,
      windowHours: 6,
      now: new Date(Date.UTC(2026, 11, 3, 7)),
      scratchDir: path.join(work, "scratch-rebuilt"),
    });
    expect(r?.rowsKept).toBe(4);
    const text = await decodeSegment(await store.get(r!.key), PASS);
    const insertOf = (id: number) =>
      text
        .split("\nINSERT INTO kine(")
        .find((s) => s.startsWith(`id,name,created,deleted,create_revision,prev_revision,lease,value,old_value) SELECT ${id},`))!;
    expect(insertOf(11)).toContain(",(SELECT value FROM kine WHERE id = 10) WHERE 11 >");
    expect(insertOf(12)).toContain(`,CAST('c before' AS BLOB) WHERE 12 >`);
  });
});
