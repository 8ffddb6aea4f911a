import { closeSync, fstatSync, openSync, readSync } from "node:fs";

/**
 * Random access to the pages of a database file that may be damaged or truncated, read in 4 MiB
 * blocks through a small LRU cache whose buffers are reused: memory stays bounded (a Raspberry Pi
 * salvaging a 1 GB file) and no time goes into faulting in fresh memory for every block.
 *
 * A returned Buffer is a view into a cached block: it stays valid only until the next call that
 * may load another block. Copy what must outlive that.
 */
export class PageReader {
  readonly fileSize: number;
  private readonly blocks = new Map<number, { full: Buffer; view: Buffer }>();
  private readonly blockSize = 4 * 1024 * 1024;
  private readonly maxBlocks: number;
  private pageSize = 4096;

  private constructor(
    private readonly fd: number,
    maxBlocks: number,
  ) {
    this.fileSize = fstatSync(fd).size;
    this.maxBlocks = Math.max(2, maxBlocks);
  }

  /** Opens `file` read-only. Throws when it cannot be opened. */
  static open(file: string, opts: { cacheBytes?: number } = {}): PageReader {
    return new PageReader(openSync(file, "r"), Math.ceil((opts.cacheBytes ?? 64 * 1024 * 1024) / (4 * 1024 * 1024)));
  }

  setPageSize(size: number): void {
    this.pageSize = size;
  }

  /** How many blocks stay cached: views into at most this many different blocks are valid together. */
  get cachedBlocks(): number {
    return this.maxBlocks;
  }

  /** Whole pages in the file (a partial last page does not count). */
  get pageCount(): number {
    return Math.floor(this.fileSize / this.pageSize);
  }

  /** `len` bytes at `off` (a view, see the class comment), or null when they are not all in the file. */
  bytes(off: number, len: number): Buffer | null {
    if (off < 0 || len < 0 || off + len > this.fileSize) return null;
    const first = Math.floor(off / this.blockSize);
    const last = Math.floor((off + len - 1) / this.blockSize);
    if (first === last) {
      const b = this.block(first);
      const start = off - first * this.blockSize;
      return b.subarray(start, start + len);
    }
    const out = Buffer.allocUnsafe(len);
    readSync(this.fd, out, 0, len, off);
    return out;
  }

  /** Page `n` (1-based), or null when it lies beyond the end of the file. Pages never straddle blocks. */
  page(n: number): Buffer | null {
    if (n < 1) return null;
    return this.bytes((n - 1) * this.pageSize, this.pageSize);
  }

  private block(i: number): Buffer {
    const cached = this.blocks.get(i);
    if (cached) {
      // Refresh its place in the LRU order.
      this.blocks.delete(i);
      this.blocks.set(i, cached);
      return cached.view;
    }
    let buf: Buffer;
    if (this.blocks.size >= this.maxBlocks) {
      const oldest = this.blocks.keys().next().value as number;
      buf = this.blocks.get(oldest)!.full;
      this.blocks.delete(oldest);
    } else buf = Buffer.allocUnsafe(this.blockSize);
    const start = i * this.blockSize;
    const len = Math.min(this.blockSize, this.fileSize - start);
    let got = 0;
    while (got < len) {
      const n = readSync(this.fd, buf, got, len - got, start + got);
      if (n === 0) break;
      got += n;
    }
    const view = buf.subarray(0, got);
    this.blocks.set(i, { full: buf, view });
    return view;
  }

  close(): void {
    closeSync(this.fd);
    this.blocks.clear();
  }
}
