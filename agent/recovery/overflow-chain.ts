import type { PageReader } from "./page-reader";
import { decodeRecordBody, serialTypeSize, type SqlValue } from "./sqlite-format";

/**
 * Overflow chains of a damaged file, read as far as their pages can be trusted. Each overflow page
 * starts with the number of the next one (0 on the last); a page that does not look like that — a
 * b-tree page, a number outside the file, a last page that points on, a middle page that ends the
 * chain, or a last page whose bytes are all zeros (zeroed or erased) — ends what can be trusted.
 * The payload bytes before it (`trusted`) are the row's; the rest is unknown, and the kine check
 * (kine-soundness.ts) puts those columns back from kine's other copy, or drops the row.
 */

export interface Chain {
  /** The overflow pages read (those of the trusted part). */
  pages: readonly number[];
  /** Payload bytes read from intact pages, the local part included (= the payload size when the chain is whole). */
  trusted: number;
}

/** A value as far as it could be read: whole, or its first `bytes.length` of `length` bytes. */
export type PartialValue = { whole: true; value: SqlValue } | { whole: false; bytes: Buffer; length: number };

/** Shortest run of zeros on a last overflow page taken for a zeroed page rather than data. */
const ZEROED_TAIL = 16;

export class OverflowChains {
  /** Overflow pages begin with the next page's number, so their first byte is 0 in any file under 2^24 pages. */
  private readonly firstByteZero: boolean;

  constructor(
    private readonly reader: PageReader,
    private readonly pageSize: number,
    private readonly usable: number,
    private readonly pageCount: number,
  ) {
    this.firstByteZero = pageCount < 2 ** 24;
  }

  /** The chain of a payload of `payloadSize` bytes whose first `local` bytes are on its leaf page. Never throws. */
  read(firstOverflow: number, local: number, payloadSize: number): Chain {
    let remaining = payloadSize - local;
    if (remaining <= 0) return { pages: NO_PAGES, trusted: payloadSize };
    const pages: number[] = [];
    let trusted = local;
    let pg = firstOverflow;
    const room = this.usable - 4;
    while (remaining > 0) {
      if (pg < 2 || pg > this.pageCount || pages.length >= this.pageCount) break;
      const head = this.reader.bytes((pg - 1) * this.pageSize, 4);
      if (!head || (this.firstByteZero && head[0] !== 0)) break;
      const next = head.readUInt32BE(0);
      const last = remaining <= room;
      if (last ? next !== 0 : next === 0) break;
      if (last && remaining >= ZEROED_TAIL && this.zeros(pg, remaining)) break;
      pages.push(pg);
      const take = Math.min(room, remaining);
      trusted += take;
      remaining -= take;
      pg = next;
    }
    return { pages, trusted };
  }

  /** Whether the first `n` bytes after page `pg`'s pointer are all zero. */
  private zeros(pg: number, n: number): boolean {
    const body = this.reader.bytes((pg - 1) * this.pageSize + 4, n);
    if (!body) return false;
    for (let i = 0; i < n; i++) if (body[i] !== 0) return false;
    return true;
  }

  /**
   * The payload as far as `chain` reaches: the local part itself when nothing overflows, else a copy
   * of it and the overflow pages (the local part is copied first, before other pages can recycle its
   * block). `scratch` is reused when big enough. Never throws.
   */
  assemble(local: Buffer, payloadSize: number, chain: readonly number[], scratch?: Buffer): Buffer {
    if (chain.length === 0) return local;
    const size = Math.min(payloadSize, local.length + chain.length * (this.usable - 4));
    const out = scratch && scratch.length >= size ? scratch.subarray(0, size) : Buffer.allocUnsafe(size);
    let off = local.copy(out, 0);
    for (const pg of chain) {
      const page = this.reader.page(pg)!;
      off += page.copy(out, off, 4, 4 + Math.min(this.usable - 4, size - off));
    }
    return out;
  }
}

export const NO_PAGES: readonly number[] = Object.freeze([]);

/**
 * Decodes the columns of a record of which only the first `rec.length` payload bytes are known:
 * columns wholly inside are decoded, the others come back with the bytes known of them. Never throws.
 */
export function decodePartialRecord(rec: Buffer, types: number[], bodyStart: number, encoding: 1 | 2 | 3): PartialValue[] {
  const out: PartialValue[] = [];
  let off = bodyStart;
  for (let i = 0; i < types.length; i++) {
    const size = serialTypeSize(types[i]);
    if (size === 0 || off + size <= rec.length)
      out.push({ whole: true, value: decodeRecordBody(rec.subarray(0, off + size), types.slice(i, i + 1), off, encoding)[0] });
    else out.push({ whole: false, bytes: Buffer.from(rec.subarray(Math.min(off, rec.length), rec.length)), length: size });
    off += size;
  }
  return out;
}
