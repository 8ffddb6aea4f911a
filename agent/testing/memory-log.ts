import Database from "better-sqlite3";
import { copyFileSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { parseSegmentKey, segmentKey, type SegmentName } from "../../lib/contracts/continuous";
import { openKineDb } from "../kine/schema";
import { KineSimulator } from "../kine/simulator";
import { LogReader } from "../continuous/reader";
import { formatSegment, type KineRow } from "../continuous/segment-format";
import { encodeSegment } from "../continuous/segment-codec";

/**
 * A log as the shipper writes it (its reader: old_value left out where kine's INSERT made it), held in
 * memory for tests of applying it: the kine simulator's database seeded and compacted, a base copied
 * from it, then segments of `ticks` simulator ticks each, encrypted with `pass`.
 */
export interface MemoryLog {
  base: string;
  baseRevision: number;
  baseRows: number;
  lastRevision: number;
  objects: Map<string, Buffer>;
  segments: SegmentName[];
  /** What applyLog's `open` is given: the object's bytes. */
  open(key: string): Promise<Readable>;
  /** A fresh copy of the base under `name`. */
  stage(name: string): string;
  /** The live database at revision `rev` (copied at the end of its segment, rows after `rev` cut off). */
  copyAt(rev: number): string;
}

export interface MemoryLogOptions {
  seed: number;
  pass: string;
  generation: string;
  /** At least this many segments; more until the log holds `logOverBase` times the base's rows. */
  minSegments: number;
  logOverBase?: number;
  ticks: number;
  /** kine compacts (the simulator's compaction) after these segments (0-based), so later headers carry it. */
  compactAfter?: number[];
  /** How many revisions kine's compaction keeps behind the newest (kine keeps 1000; fewer reach into the log). */
  compactRetain?: number;
  /** The first this many segments are stored as one compacted object instead (rows as they are). */
  compactedFirst?: number;
}

export async function buildMemoryLog(work: string, o: MemoryLogOptions): Promise<MemoryLog> {
  const live = path.join(work, "live.db");
  const db = openKineDb(live);
  const sim = new KineSimulator(db, { seed: o.seed });
  sim.seed();
  sim.compact();
  const base = path.join(work, "base.db");
  db.exec(`VACUUM INTO '${base}'`);
  const baseRevision = sim.currentRevision();
  const baseRows = db.prepare("SELECT count(*) FROM kine").pluck().get() as number;
  const objects = new Map<string, Buffer>();
  const segments: SegmentName[] = [];
  const ends: { last: number; copy: string }[] = [];
  const reader = new LogReader(live);
  const folded: { rows: KineRow[]; compact: number; first: number; last: number; at: Date } = { rows: [], compact: 0, first: 0, last: 0, at: new Date(0) };
  const store = async (first: number, last: number, rows: KineRow[], compact: number, at: Date, compacted: boolean) => {
    const name = segmentKey(o.generation, first, last, at, compacted);
    const text = formatSegment(
      { generation: o.generation, first, last, compactRevision: compact, readAt: at.toISOString() },
      rows,
      compacted ? { note: "test", tail: [] } : undefined,
    );
    objects.set(name, await encodeSegment(text, o.pass));
    segments.push(parseSegmentKey(name)!);
  };
  let after = baseRevision;
  for (let s = 0; s < o.minSegments || after - baseRevision < (o.logOverBase ?? 0) * baseRows; s++) {
    for (let i = 0; i < o.ticks; i++) sim.tick();
    const read = await reader.read(after);
    const rows = read.rows;
    const first = rows[0].id;
    const last = rows[rows.length - 1].id;
    const at = new Date(Date.UTC(2026, 11, 3, 12, 0, 0) + s * 10_000);
    if (s < (o.compactedFirst ?? 0)) {
      if (s === 0) folded.first = first;
      folded.rows.push(...rows);
      Object.assign(folded, { compact: read.compactRevision, last, at });
      if (s === o.compactedFirst! - 1) {
        await store(folded.first, last, folded.rows, folded.compact, at, true);
        folded.rows = [];
      }
    } else await store(first, last, rows, read.compactRevision, at, false);
    after = last;
    const copy = path.join(work, `live-after-${s}.db`);
    db.exec(`VACUUM INTO '${copy}'`);
    ends.push({ last, copy });
    if (o.compactAfter?.includes(s)) sim.compact(sim.currentRevision() - (o.compactRetain ?? 1000));
  }
  // Every segment folded (compactedFirst past the last): one compacted object for the whole log.
  if (folded.rows.length) await store(folded.first, folded.last, folded.rows, folded.compact, folded.at, true);
  reader.close();
  db.close();
  return {
    base,
    baseRevision,
    baseRows,
    lastRevision: after,
    objects,
    segments,
    open: async (key) => Readable.from([objects.get(key)!]),
    stage(name) {
      const to = path.join(work, `${name}.db`);
      copyFileSync(base, to);
      return to;
    },
    copyAt(rev) {
      const end = ends.find((e) => e.last >= rev);
      if (!end) throw new Error(`revision ${rev} is after the log`);
      const to = path.join(work, `live-at-${rev}.db`);
      copyFileSync(end.copy, to);
      const c = new Database(to);
      c.prepare("DELETE FROM kine WHERE id > ?").run(rev);
      c.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = 'kine'").run(rev);
      c.close();
      return to;
    },
  };
}
