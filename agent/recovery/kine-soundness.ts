import Database from "better-sqlite3";
import type { KineSoundness } from "../../lib/contracts/agent-recovery";
import { hasKineTable } from "../sqlite/check";

/**
 * The kine check: every row a recovery produced, held against the copies kine keeps of it elsewhere
 * (KINE.md). kine never changes a row once written (compact_rev_key aside), and its insert copies
 * the previous row's value into the new row's old_value, so for each pair P → R of a key
 * (R.prev_revision = P.id):
 *   - R.old_value equals P.value, byte for byte (the same bytes stored twice, on different pages);
 *   - P and R have the same name, P.id < R.id, and R.create_revision is P's create row (0 on a
 *     create, whose predecessor can only be a tombstone; 0 or the create row on a tombstone: kine
 *     v0.16 writes a delete with its key alone).
 * And compaction up to C leaves, per key, at most the newest row at or below C (never a tombstone).
 *
 * A column whose two copies disagree is damaged in one of them. Which one, the file's structure
 * usually says: the salvage knows which rows have bytes on pages that cannot be trusted (an overflow
 * chain broken or overwritten; `doubts`), and an erased page reads as a run of 0x00 or 0xFF where
 * the other copy has data. The damaged copy is put back from the intact one (same length, same
 * readable prefix); a column with no intact copy, or a disagreement nothing explains, drops the rows
 * involved. So a result holds only rows as kine wrote them, and the report lists every row dropped.
 * Damage to the newest revision of a key, which has no second copy, is only found through `doubts`.
 */

/** A column whose bytes the salvage could not read from intact pages: its length from the record header, and how many leading bytes it did read. */
export interface ColumnDoubt {
  length: number;
  knownBytes: number;
}

/** Doubted columns by revision (kine's id). */
export type KineDoubts = Map<number, { value?: ColumnDoubt; oldValue?: ColumnDoubt }>;

type Column = "value" | "old_value";

interface Row {
  id: number;
  name: string | null;
  created: boolean;
  deleted: boolean;
  createRevision: number;
  prevRevision: number;
}

type ColumnState =
  | { kind: "alone" } // nothing to compare it with
  | { kind: "doubt" } // damaged in the file, not (yet) confirmed by a copy
  | { kind: "confirmed" }
  | { kind: "repair"; from: number; fromColumn: Column }
  | { kind: "bad"; why: string };

const LIST_MAX = 200;
const COMPACT_KEY = "compact_rev_key";

const asBuffer = (v: unknown): Buffer | null => (v === null || v === undefined ? null : Buffer.isBuffer(v) ? v : Buffer.from(String(v)));

/** True when every byte of `b[from..to]` is 0x00, or every one is 0xFF (an erased or zeroed page). */
function uniform(b: Buffer, from: number, to: number): boolean {
  const first = b[from];
  if (first !== 0x00 && first !== 0xff) return false;
  for (let i = from + 1; i <= to; i++) if (b[i] !== first) return false;
  return true;
}

/**
 * The shortest stretch taken for an erased page rather than data: an intact copy holds short runs of
 * 0x00 (protobuf) and 0xFF, so one flipped bit where the intact copy has a 0x00 byte must not make the
 * intact copy look erased (it would be "repaired" with the flipped one). The same length as a zeroed
 * overflow page's tail (overflow-chain.ts).
 */
const ERASED_RUN = 16;

/**
 * Which of two differing copies of one column an erased page explains: "a" or "b" when the bytes
 * where they differ (a stretch of at least ERASED_RUN) are all 0x00 or all 0xFF in one of them and
 * not in the other; null when nothing says (different lengths, a shorter difference, or both or
 * neither look erased).
 */
export function erasedCopy(a: Buffer | null, b: Buffer | null): "a" | "b" | null {
  if (!a || !b || a.length !== b.length) return null;
  let lo = 0;
  while (lo < a.length && a[lo] === b[lo]) lo++;
  if (lo === a.length) return null;
  let hi = a.length - 1;
  while (a[hi] === b[hi]) hi--;
  if (hi - lo + 1 < ERASED_RUN) return null;
  const ea = uniform(a, lo, hi);
  const eb = uniform(b, lo, hi);
  return ea === eb ? null : ea ? "a" : "b";
}

/**
 * Checks (and with `repair`, repairs and drops) the kine rows of `file` against kine's own copies of
 * them, as the module comment describes. Returns null when `file` has no kine table. Throws SQLite's
 * errors (the file cannot be opened or written).
 */
export function auditKineRows(file: string, opts: { doubts?: KineDoubts; repair: boolean }): KineSoundness | null {
  const doubts = opts.doubts ?? new Map();
  const db = new Database(file, { readonly: !opts.repair, fileMustExist: true });
  try {
    if (!hasKineTable(db)) return null;
    const rows = new Map<number, Row>();
    for (const r of db.prepare("SELECT id, name, created, deleted, create_revision, prev_revision FROM kine NOT INDEXED").raw().iterate() as IterableIterator<
      unknown[]
    >) {
      const id = Number(r[0]);
      rows.set(id, {
        id,
        name: typeof r[1] === "string" ? r[1] : null,
        created: Number(r[2]) !== 0,
        deleted: Number(r[3]) !== 0,
        createRevision: Number(r[4] ?? 0),
        prevRevision: Number(r[5] ?? 0),
      });
    }
    // Pairs whose copies differ, found by SQLite itself (no value is held in memory).
    const differing = new Set<number>(
      db
        .prepare(
          `SELECT r.id FROM kine AS r JOIN kine AS p ON p.id = r.prev_revision
           WHERE r.prev_revision != 0 AND r.name IS NOT '${COMPACT_KEY}' AND r.old_value IS NOT p.value`,
        )
        .pluck()
        .all() as number[],
    );
    const column = db.prepare("SELECT value, old_value FROM kine WHERE id = ?");
    const read = (id: number, c: Column): Buffer | null => {
      const r = column.get(id) as { value: unknown; old_value: unknown };
      return asBuffer(c === "value" ? r.value : r.old_value);
    };

    const state = new Map<number, { value: ColumnState; old: ColumnState; broken: string | null; compacted: boolean }>();
    for (const r of rows.values()) {
      const d = doubts.get(r.id);
      state.set(r.id, {
        value: d?.value ? { kind: "doubt" } : { kind: "alone" },
        old: d?.oldValue ? { kind: "doubt" } : r.prevRevision === 0 ? { kind: "confirmed" } : { kind: "alone" },
        broken: null,
        compacted: false,
      });
    }

    // compact_rev_key holds the compact revision; rows it supersedes cannot be live.
    let compactRev = 0;
    for (const r of rows.values()) if (r.name === COMPACT_KEY) compactRev = Math.max(compactRev, r.prevRevision);
    if (compactRev > 0) {
      const newest = new Map<string, number>();
      for (const r of rows.values())
        if (r.name !== COMPACT_KEY && r.name !== null && r.id <= compactRev && (newest.get(r.name) ?? -1) < r.id) newest.set(r.name, r.id);
      for (const r of rows.values())
        if (r.name !== COMPACT_KEY && r.id <= compactRev && (r.deleted || newest.get(r.name ?? "") !== r.id)) state.get(r.id)!.compacted = true;
    }

    /** Can `to` (a doubted column) take the bytes of `from`: same length as its record says, same readable prefix. */
    const fits = (toId: number, to: Column, fromId: number, from: Column): boolean => {
      const d = to === "value" ? doubts.get(toId)?.value : doubts.get(toId)?.oldValue;
      const src = read(fromId, from);
      if (!d) return true;
      if (!src || src.length !== d.length) return false;
      const cur = read(toId, to) ?? Buffer.alloc(0);
      const k = Math.min(d.knownBytes, cur.length);
      return cur.subarray(0, k).equals(src.subarray(0, k));
    };

    for (const r of rows.values()) {
      if (r.name === COMPACT_KEY || r.prevRevision === 0) continue;
      const s = state.get(r.id)!;
      const p = rows.get(r.prevRevision);
      if (!p) continue; // compacted away (or lost): the old_value has no copy to compare with
      const wantCreate = p.created ? p.id : p.createRevision;
      // kine v0.16's tombstone carries only its key: create_revision 0 (older kine's, the create row's).
      const createOk = r.createRevision === wantCreate || (r.deleted && r.createRevision === 0);
      if (r.name === null || p.name !== r.name || p.id >= r.id || (r.created ? !p.deleted : !createOk)) {
        s.broken = `its prev_revision ${r.prevRevision} does not lead to the previous row of its key (a damaged chain)`;
        continue;
      }
      const ps = state.get(p.id)!;
      const dp = ps.value.kind === "doubt";
      const dr = s.old.kind === "doubt";
      const bad = (why: string) => {
        ps.value = { kind: "bad", why };
        s.old = { kind: "bad", why };
      };
      if (dp && dr) bad(`revision ${p.id}'s value and its copy, revision ${r.id}'s old_value, are both damaged`);
      else if (!differing.has(r.id)) {
        ps.value = { kind: "confirmed" };
        s.old = { kind: "confirmed" };
      } else if (dr) {
        if (fits(r.id, "old_value", p.id, "value")) {
          s.old = { kind: "repair", from: p.id, fromColumn: "value" };
          ps.value = { kind: "confirmed" };
        } else bad(`its old_value is damaged and does not fit the value of revision ${p.id}`);
      } else if (dp) {
        if (fits(p.id, "value", r.id, "old_value")) {
          ps.value = { kind: "repair", from: r.id, fromColumn: "old_value" };
          s.old = { kind: "confirmed" };
        } else bad(`its value is damaged and does not fit the old_value of revision ${r.id}`);
      } else {
        const erased = erasedCopy(read(p.id, "value"), read(r.id, "old_value"));
        if (erased === "a") {
          ps.value = { kind: "repair", from: r.id, fromColumn: "old_value" };
          s.old = { kind: "confirmed" };
        } else if (erased === "b") {
          s.old = { kind: "repair", from: p.id, fromColumn: "value" };
          ps.value = { kind: "confirmed" };
        } else bad(`revision ${p.id}'s value and revision ${r.id}'s old_value (the same bytes in kine) differ, and nothing shows which is damaged`);
      }
    }

    // Decide each row; the doubted columns nobody confirmed have no intact copy.
    const out: KineSoundness = {
      checked: rows.size,
      confirmed: 0,
      unverifiable: 0,
      repaired: 0,
      dropped: 0,
      repairedRows: [],
      droppedRows: [],
      truncated: false,
    };
    const drops: number[] = [];
    const repairs: { id: number; column: Column; from: number; fromColumn: Column }[] = [];
    for (const r of rows.values()) {
      const s = state.get(r.id)!;
      const cols: [Column, ColumnState][] = [
        ["value", s.value],
        ["old_value", s.old],
      ];
      let why: string | null = s.broken ?? (s.compacted ? `kine's compaction had deleted it (compact revision ${compactRev})` : null);
      for (const [c, st] of cols) {
        if (why) break;
        if (st.kind === "bad") why = `${c}: ${st.why}`;
        else if (st.kind === "doubt") why = `its ${c} is damaged in the file and kine keeps no other copy of it`;
      }
      const key = r.name ?? "";
      if (why) {
        drops.push(r.id);
        out.dropped++;
        if (out.droppedRows.length < LIST_MAX) out.droppedRows.push({ key, revision: r.id, reason: why });
        else out.truncated = true;
        continue;
      }
      const fixed = cols.filter(([, st]) => st.kind === "repair") as [Column, Extract<ColumnState, { kind: "repair" }>][];
      if (fixed.length) {
        for (const [c, st] of fixed) repairs.push({ id: r.id, column: c, from: st.from, fromColumn: st.fromColumn });
        out.repaired++;
        if (out.repairedRows.length < LIST_MAX) out.repairedRows.push({ key, revision: r.id, columns: fixed.map(([c]) => c), from: fixed[0][1].from });
        else out.truncated = true;
      } else if (r.name === COMPACT_KEY || cols.every(([, st]) => st.kind === "confirmed")) out.confirmed++;
      else out.unverifiable++;
    }

    if (opts.repair && (repairs.length || drops.length)) {
      db.transaction(() => {
        // Copies first: a dropped row can still be the intact copy of another row's column.
        for (const f of repairs) db.prepare(`UPDATE kine SET ${f.column} = (SELECT ${f.fromColumn} FROM kine WHERE id = ?) WHERE id = ?`).run(f.from, f.id);
        const del = db.prepare("DELETE FROM kine WHERE id = ?");
        for (const id of drops) del.run(id);
      })();
    }
    return out;
  } finally {
    db.close();
  }
}
