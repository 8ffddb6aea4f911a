/**
 * Just enough of SQLite's file format (sqlite.org/fileformat2.html) to read rows out of a damaged
 * database without SQLite: the 100-byte header, b-tree page headers, table cells, the record format
 * and overflow chains. Everything here is pure (Buffers in, values out) and never throws on bad
 * bytes: damaged input yields `null`, because salvage runs on exactly that kind of file.
 */

export const SQLITE_MAGIC = Buffer.from("SQLite format 3\0", "latin1");

/** b-tree page types (the first byte of the page header). */
export const PAGE_INDEX_INTERIOR = 0x02;
export const PAGE_TABLE_INTERIOR = 0x05;
export const PAGE_INDEX_LEAF = 0x0a;
export const PAGE_TABLE_LEAF = 0x0d;

export type SqlValue = null | number | bigint | string | Buffer;

export interface DbHeader {
  pageSize: number;
  reservedBytes: number;
  /** Pages according to the header (0 when the field is not trustworthy). */
  pageCount: number;
  firstFreelistTrunk: number;
  freelistCount: number;
  /** 1 UTF-8, 2 UTF-16le, 3 UTF-16be. */
  textEncoding: 1 | 2 | 3;
}

/**
 * Parses the 100-byte database header. Returns null when the magic string or the page size is not
 * valid (e.g. the first 100 bytes were zeroed).
 */
export function parseHeader(buf: Buffer): DbHeader | null {
  if (buf.length < 100 || !buf.subarray(0, 16).equals(SQLITE_MAGIC)) return null;
  const raw = buf.readUInt16BE(16);
  const pageSize = raw === 1 ? 65536 : raw;
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return null;
  const reservedBytes = buf[20];
  if (pageSize - reservedBytes < 480) return null;
  const enc = buf.readUInt32BE(56);
  // The in-header page count is only valid when the "version-valid-for" number matches the change counter.
  const changeCounter = buf.readUInt32BE(24);
  const validFor = buf.readUInt32BE(92);
  return {
    pageSize,
    reservedBytes,
    pageCount: changeCounter === validFor ? buf.readUInt32BE(28) : 0,
    firstFreelistTrunk: buf.readUInt32BE(32),
    freelistCount: buf.readUInt32BE(36),
    textEncoding: enc === 2 || enc === 3 ? enc : 1,
  };
}

/**
 * Reads a SQLite varint (1–9 bytes, big-endian, 7 bits per byte, the 9th byte all 8 bits) at `off`.
 * Returns [value, length], or null when it runs past `end`. Values above 2^53 lose precision, which
 * only matters for rowids no kine database reaches.
 */
export function readVarint(buf: Buffer, off: number, end: number): [number, number] | null {
  let v = 0;
  for (let i = 0; i < 8; i++) {
    if (off + i >= end) return null;
    const b = buf[off + i];
    v = v * 128 + (b & 0x7f);
    if (b < 0x80) return [v, i + 1];
  }
  if (off + 8 >= end) return null;
  return [v * 256 + buf[off + 8], 9];
}

/** Bytes a value of this serial type occupies in a record body; -1 for the reserved types 10 and 11. */
export function serialTypeSize(t: number): number {
  if (t < 12) return SERIAL_SIZES[t];
  return (t - (t & 1 ? 13 : 12)) / 2;
}
const SERIAL_SIZES = [0, 1, 2, 3, 4, 6, 8, 8, 0, 0, -1, -1];

export interface PageHeader {
  type: number;
  firstFreeblock: number;
  cellCount: number;
  contentStart: number;
  /** Right-most child (interior pages only). */
  rightChild: number;
  /** Offset of the cell pointer array within the page. */
  cellPointers: number;
}

/**
 * Parses the b-tree page header of `page` (a whole page; `hdrOff` is 100 on page 1, else 0).
 * Returns null unless it is a plausible b-tree page for a usable size of `usable` bytes.
 */
export function parsePageHeader(page: Buffer, hdrOff: number, usable: number): PageHeader | null {
  const type = page[hdrOff];
  if (type !== PAGE_TABLE_LEAF && type !== PAGE_TABLE_INTERIOR && type !== PAGE_INDEX_LEAF && type !== PAGE_INDEX_INTERIOR) return null;
  const interior = type === PAGE_TABLE_INTERIOR || type === PAGE_INDEX_INTERIOR;
  const hdrSize = interior ? 12 : 8;
  if (hdrOff + hdrSize > usable) return null;
  const cellCount = page.readUInt16BE(hdrOff + 3);
  const cs = page.readUInt16BE(hdrOff + 5);
  const contentStart = cs === 0 ? 65536 : cs;
  const cellPointers = hdrOff + hdrSize;
  if (cellPointers + cellCount * 2 > usable) return null;
  if (cellCount > 0 && (contentStart < cellPointers + cellCount * 2 || contentStart > usable)) return null;
  return {
    type,
    firstFreeblock: page.readUInt16BE(hdrOff + 1),
    cellCount,
    contentStart,
    rightChild: interior ? page.readUInt32BE(hdrOff + 8) : 0,
    cellPointers,
  };
}

/** Bytes of a table-leaf payload of `payload` bytes kept on the page itself (the rest overflows). */
export function localPayloadSize(payload: number, usable: number): number {
  const maxLocal = usable - 35;
  if (payload <= maxLocal) return payload;
  const minLocal = Math.floor(((usable - 12) * 32) / 255) - 23;
  const k = minLocal + ((payload - minLocal) % (usable - 4));
  return k <= maxLocal ? k : minLocal;
}

export interface TableLeafCell {
  rowid: number;
  payloadSize: number;
  /** The part of the payload stored on the page. */
  local: Buffer;
  /** First overflow page, 0 when the payload is all local. */
  overflowPage: number;
}

/**
 * Decodes cell `i` of a table leaf page. Returns null when the cell pointer or the cell runs outside
 * the page (a damaged page can still yield its other cells).
 */
export function readTableLeafCell(page: Buffer, hdr: PageHeader, i: number, usable: number): TableLeafCell | null {
  const ptr = page.readUInt16BE(hdr.cellPointers + i * 2);
  if (ptr < hdr.cellPointers + hdr.cellCount * 2 || ptr >= usable) return null;
  const ps = readVarint(page, ptr, usable);
  if (!ps) return null;
  const rid = readVarint(page, ptr + ps[1], usable);
  if (!rid) return null;
  const payloadSize = ps[0];
  const start = ptr + ps[1] + rid[1];
  const local = localPayloadSize(payloadSize, usable);
  const overflow = local < payloadSize;
  const end = start + local + (overflow ? 4 : 0);
  if (end > usable) return null;
  return {
    rowid: rid[0],
    payloadSize,
    local: page.subarray(start, start + local),
    overflowPage: overflow ? page.readUInt32BE(start + local) : 0,
  };
}

/** Child page numbers of a table interior page (cells' left children, then the right-most child). */
export function tableInteriorChildren(page: Buffer, hdr: PageHeader, usable: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < hdr.cellCount; i++) {
    const ptr = page.readUInt16BE(hdr.cellPointers + i * 2);
    if (ptr + 4 > usable) continue;
    out.push(page.readUInt32BE(ptr));
  }
  out.push(hdr.rightChild);
  return out;
}

/**
 * Parses a record's header (its serial types). Returns the types and where the body starts, or null
 * when the header is malformed or does not fit in `rec` (callers pass at least the local payload).
 */
export function readRecordHeader(rec: Buffer): { types: number[]; bodyStart: number; bodySize: number } | null {
  const hs = readVarint(rec, 0, rec.length);
  if (!hs) return null;
  const headerSize = hs[0];
  if (headerSize < hs[1] || headerSize > rec.length) return null;
  const types: number[] = [];
  let off = hs[1];
  let bodySize = 0;
  while (off < headerSize) {
    const t = readVarint(rec, off, headerSize);
    if (!t) return null;
    const size = serialTypeSize(t[0]);
    if (size < 0) return null;
    types.push(t[0]);
    bodySize += size;
    off += t[1];
  }
  if (off !== headerSize) return null;
  return { types, bodyStart: headerSize, bodySize };
}

/** Decodes the body of a record into values: all its columns, or the first `count`. `rec` must hold the bytes they take. */
export function decodeRecordBody(rec: Buffer, types: number[], bodyStart: number, encoding: 1 | 2 | 3, count = types.length): SqlValue[] {
  const out: SqlValue[] = new Array(count);
  let off = bodyStart;
  for (let i = 0; i < count; i++) {
    const t = types[i];
    switch (t) {
      case 0:
        out[i] = null;
        break;
      case 1:
        out[i] = rec.readInt8(off);
        off += 1;
        break;
      case 2:
        out[i] = rec.readInt16BE(off);
        off += 2;
        break;
      case 3:
        out[i] = rec.readIntBE(off, 3);
        off += 3;
        break;
      case 4:
        out[i] = rec.readInt32BE(off);
        off += 4;
        break;
      case 5:
        out[i] = rec.readIntBE(off, 6);
        off += 6;
        break;
      case 6: {
        const big = rec.readBigInt64BE(off);
        out[i] = big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
        off += 8;
        break;
      }
      case 7:
        out[i] = rec.readDoubleBE(off);
        off += 8;
        break;
      case 8:
        out[i] = 0;
        break;
      case 9:
        out[i] = 1;
        break;
      default: {
        const size = serialTypeSize(t);
        const bytes = rec.subarray(off, off + size);
        off += size;
        if (t & 1)
          out[i] = encoding === 1 ? bytes.toString("utf8") : encoding === 2 ? bytes.toString("utf16le") : Buffer.from(bytes).swap16().toString("utf16le");
        else out[i] = bytes;
      }
    }
  }
  return out;
}

/** Serial-type classes used to recognise a row's shape without knowing its table. */
export function isIntegerType(t: number): boolean {
  return (t >= 1 && t <= 6) || t === 8 || t === 9;
}
export function isBlobType(t: number): boolean {
  return t >= 12 && (t & 1) === 0;
}
export function isTextType(t: number): boolean {
  return t >= 13 && (t & 1) === 1;
}
