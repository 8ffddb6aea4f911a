import { serialTypeSize } from "./sqlite-format";

/**
 * The salvage's scan of one table-leaf cell, for the 145,000 cells of a 200 MB database: the same
 * checks as readTableLeafCell + readRecordHeader + the kine shape (sqlite-format.ts, salvage.ts), but
 * read by offsets into the page and written into one reused object, because the general functions
 * allocate a Buffer view, an array per varint and an object per cell, and the collector's time for
 * those was a tenth of the salvage's.
 */

/** What `scanKineCell` found in a cell (one object, reused: copy what must outlive the next call). */
export interface KineCell {
  rowid: number;
  payloadSize: number;
  /** Offset of the payload's local part in the page, its length, and the first overflow page (0: none). */
  localStart: number;
  localSize: number;
  overflowPage: number;
  /** The record's 9 serial types, where its body starts and how long it is. */
  types: number[];
  bodyStart: number;
  /** Payload bytes up to the end of `lease` (the columns a row cannot be kept without). */
  needed: number;
}

/** The cell could not be read (pointer or cell outside the page). */
export const CELL_UNREADABLE = -1;
/** A readable cell whose record does not have kine's shape, or whose record size disagrees with the payload. */
export const CELL_OTHER = 0;
/** A kine-shaped cell: `out` holds its facts. */
export const CELL_KINE = 1;

export function newKineCell(): KineCell {
  return { rowid: 0, payloadSize: 0, localStart: 0, localSize: 0, overflowPage: 0, types: [0, 0, 0, 0, 0, 0, 0, 0, 0], bodyStart: 0, needed: 0 };
}

// A varint's length, set by `varint` (a second return value without allocating a pair).
let varintLength = 0;

/** SQLite varint at `off`, or -1 when it runs past `end` (as readVarint's null); its length in `varintLength`. */
function varint(buf: Buffer, off: number, end: number): number {
  let v = 0;
  for (let i = 0; i < 8; i++) {
    if (off + i >= end) return -1;
    const b = buf[off + i];
    v = v * 128 + (b & 0x7f);
    if (b < 0x80) {
      varintLength = i + 1;
      return v;
    }
  }
  if (off + 8 >= end) return -1;
  varintLength = 9;
  return v * 256 + buf[off + 8];
}

/** The local payload size for a payload of `payload` bytes (sqlite-format.ts's localPayloadSize). */
function localSize(payload: number, usable: number): number {
  const maxLocal = usable - 35;
  if (payload <= maxLocal) return payload;
  const minLocal = Math.floor(((usable - 12) * 32) / 255) - 23;
  const k = minLocal + ((payload - minLocal) % (usable - 4));
  return k <= maxLocal ? k : minLocal;
}

/**
 * Reads cell `i` of the table leaf `page` (cell pointers at `cellPointers`, `cellCount` cells) into
 * `out`: CELL_UNREADABLE, CELL_OTHER or CELL_KINE, with the same verdicts as readTableLeafCell, then
 * readRecordHeader on the local part, the 9-column kine shape and body size = payload size. Never throws.
 */
export function scanKineCell(page: Buffer, cellPointers: number, cellCount: number, i: number, usable: number, out: KineCell): number {
  const ptr = page.readUInt16BE(cellPointers + i * 2);
  if (ptr < cellPointers + cellCount * 2 || ptr >= usable) return CELL_UNREADABLE;
  const payloadSize = varint(page, ptr, usable);
  if (payloadSize < 0) return CELL_UNREADABLE;
  let off = ptr + varintLength;
  const rowid = varint(page, off, usable);
  if (rowid < 0) return CELL_UNREADABLE;
  off += varintLength;
  const local = localSize(payloadSize, usable);
  const overflow = local < payloadSize;
  if (off + local + (overflow ? 4 : 0) > usable) return CELL_UNREADABLE;
  out.rowid = rowid;
  out.payloadSize = payloadSize;
  out.localStart = off;
  out.localSize = local;
  out.overflowPage = overflow ? page.readUInt32BE(off + local) : 0;

  // The record header, within the local part.
  const end = off + local;
  const headerSize = varint(page, off, end);
  if (headerSize < 0 || headerSize < varintLength || headerSize > local) return CELL_OTHER;
  const headerEnd = off + headerSize;
  let h = off + varintLength;
  let n = 0;
  let bodySize = 0;
  const types = out.types;
  while (h < headerEnd) {
    const t = varint(page, h, headerEnd);
    if (t < 0) return CELL_OTHER;
    const size = serialTypeSize(t);
    if (size < 0 || n === 9) return CELL_OTHER;
    types[n++] = t;
    bodySize += size;
    h += varintLength;
  }
  if (h !== headerEnd || n !== 9 || !kineShape(types)) return CELL_OTHER;
  if (headerSize + bodySize !== payloadSize) return CELL_OTHER;
  out.bodyStart = headerSize;
  let needed = headerSize;
  for (let k = 0; k < 7; k++) needed += serialTypeSize(types[k]);
  out.needed = needed;
  return CELL_KINE;
}

/** kine's record shape: NULL (the INTEGER PRIMARY KEY alias), text name, 5 integers (or NULL), 2 blobs (or NULL/text). */
function kineShape(types: number[]): boolean {
  if (types[0] !== 0) return false;
  const name = types[1];
  if (!(name >= 13 && (name & 1) === 1)) return false;
  for (let i = 2; i <= 6; i++) {
    const t = types[i];
    if (t !== 0 && !((t >= 1 && t <= 6) || t === 8 || t === 9)) return false;
  }
  for (let i = 7; i <= 8; i++) if (types[i] !== 0 && types[i] < 12) return false;
  return true;
}

/** An integer column of serial type `t` at `off` (NULL reads as 0, as Number(null)); `rec` must hold its bytes. */
export function intAt(rec: Buffer, off: number, t: number): number {
  switch (t) {
    case 1:
      return rec.readInt8(off);
    case 2:
      return rec.readInt16BE(off);
    case 3:
      return rec.readIntBE(off, 3);
    case 4:
      return rec.readInt32BE(off);
    case 5:
      return rec.readIntBE(off, 6);
    case 6:
      return Number(rec.readBigInt64BE(off));
    case 9:
      return 1;
    default:
      return 0;
  }
}

/**
 * The columns of a whole, local kine cell that `scanKineCell` just read into `cell`, as
 * decodeRecordBody gives them (NULL, numbers, a BigInt beyond 2^53, text, Buffer views into `page`),
 * with `id` for the rowid alias and `name` decoded already by the scan. Never throws on such a cell.
 */
export function kineRowValues(page: Buffer, cell: KineCell, id: number, name: string, encoding: 1 | 2 | 3): unknown[] {
  const t = cell.types;
  const v: unknown[] = [id, name, null, null, null, null, null, null, null];
  let off = cell.localStart + cell.bodyStart + serialTypeSize(t[1]);
  for (let k = 2; k <= 6; k++) {
    const type = t[k];
    if (type === 6) {
      const big = page.readBigInt64BE(off);
      v[k] = big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
    } else if (type !== 0) v[k] = intAt(page, off, type);
    off += serialTypeSize(type);
  }
  for (let k = 7; k <= 8; k++) {
    const type = t[k];
    const size = serialTypeSize(type);
    if (type >= 12) {
      if (type & 1)
        v[k] =
          encoding === 1
            ? page.toString("utf8", off, off + size)
            : encoding === 2
              ? page.toString("utf16le", off, off + size)
              : Buffer.from(page.subarray(off, off + size))
                  .swap16()
                  .toString("utf16le");
      else v[k] = page.subarray(off, off + size);
    }
    off += size;
  }
  return v;
}
